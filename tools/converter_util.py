"""Helpers shared by the model converters (standard library only: each converter runs in
its own venv)."""
import hashlib
import sys


def die(msg):
    """Print an error line and exit 1."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def sha256_of(path):
    """sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
