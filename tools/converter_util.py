"""Helpers shared by the model converters (standard library only: each converter runs in
its own venv)."""
import hashlib
import os
import sys
import tempfile
import tomllib
from pathlib import Path

# Every converted model has these two outputs, in this order: the engine reads outputs[0].
TAGS_OUTPUT = "tags"
EMBEDDING_OUTPUT = "embedding"


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


def up_to_date(out, script):
    """True when `out` exists and is newer than the converter `script` and this module."""
    if not out.exists():
        return False
    newest_source = max(Path(script).stat().st_mtime, Path(__file__).stat().st_mtime)
    return out.stat().st_mtime > newest_source


def check_manifest(path, tags, embedding_size):
    """Exit 1 unless the committed manifest at `path` lists `tags` (the converted model's
    output order) and declares the embedding output as the converter builds it."""
    with open(path, "rb") as f:
        manifest = tomllib.load(f)
    if manifest.get("tags") != list(tags):
        die(f"{path}: `tags` differ from the converted model's output order")
    want = {"embedding_output": EMBEDDING_OUTPUT, "embedding_size": embedding_size}
    got = {k: manifest.get(k) for k in want}
    if got != want:
        die(f"{path}: expected {want}, found {got}")
    print(f"manifest {path.name}: {len(tags)} tags in output order, "
          f"{EMBEDDING_OUTPUT} [N,{embedding_size}]")


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
