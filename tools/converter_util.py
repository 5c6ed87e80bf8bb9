"""Helpers shared by the model converters (standard library only: each converter runs in
its own venv)."""
import hashlib
import os
import sys
import tempfile


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


def save_checked(model, out, check):
    """Save an ONNX model to `out` atomically: write a temp file beside it (usual file mode),
    run `check(tmp_path)` on it, then rename. A model failing its check never appears."""
    import onnx
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix="." + out.name + ".", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the usual file mode
    try:
        onnx.save(model, tmp)
        check(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
