#!/usr/bin/env python3
"""Convert musicnn's MSD_musicnn tagger (Pons & Serra 2019, MSD top-50) to ONNX.

Usage: .venv-musicnn/bin/python tools/convert_musicnn.py [--out models/] [--force]

Runs in its own venv (.venv-musicnn, tools/requirements-musicnn.txt: TensorFlow 2.15 CPU,
numpy<2, tf2onnx, onnx 1.16.2) with the `musicnn` 0.1.0 package installed, which ships the
TF1 checkpoint under musicnn/MSD_musicnn/ and the model code in musicnn/models.py.

Steps: build musicnn's own graph (musicnn.models.define_model) with tf.compat.v1 in graph
mode, passing the Python value False as the training flag (batch norm uses its moving
statistics, dropout is the identity); restore the checkpoint; apply sigmoid like musicnn's
extractor; freeze the variables; convert with tf2onnx at opset 17; set the IR version to 8.

Input "melspec" float32 [N, 187, 96] (time first: 187 frames of 96 log-mel bands, see
models/musicnn_msd.toml [frontend]); output "tags" float32 [N, 50] (sigmoid scores, order =
musicnn.configuration.MSD_LABELS = the manifest's `tags`).

Self-check before the model is moved into place: onnxruntime's output on a fixed input must
match TensorFlow's within 1e-5 (max abs diff), the parameter count must be the expected one
and MSD_LABELS must equal the tags of models/choi2016_crnn.toml; otherwise exit non-zero and
write nothing. The output is written atomically (temp file + rename) and is not rebuilt when
it is newer than this script (use --force).
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converter_util import die, save_checked, sha256_of  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()

MODEL = "MSD_musicnn"
OUT_NAME = "musicnn_msd.onnx"
IR_VERSION = 8
OPSET = 17
N_FRAMES, N_MELS, N_TAGS = 187, 96, 50
# Trainable variables of musicnn's graph (792,079 with the batch-norm moving statistics).
EXPECTED_PARAMS = 787159
# sha256 of the checkpoint's weights as shipped in musicnn 0.1.0 (musicnn/MSD_musicnn/).
CKPT_SHA256 = {
    ".data-00000-of-00001": "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
    ".index": "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
}
TOLERANCE = 1e-5


def crnn_tags():
    text = (REPO / "models" / "choi2016_crnn.toml").read_text()
    m = re.search(r"^tags\s*=\s*(\[.*?\])", text, re.S | re.M)
    return json.loads(re.sub(r",\s*\]", "]", m.group(1)))


def fixed_input():
    """Deterministic batch shaped like real input: log10(1 + 10000*S) lies in about [0, 6]."""
    import numpy as np
    rng = np.random.default_rng(20190801)
    x = rng.gamma(2.0, 0.6, size=(3, N_FRAMES, N_MELS)).astype(np.float32)
    x[1] *= 0.25           # a quieter patch
    x[2, :, 48:] = 0.0     # band-limited patch
    return x


def build_and_freeze(ckpt_dir):
    """musicnn's graph, restored and frozen: (frozen GraphDef, param count, TF output)."""
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS], name="melspec")
        # Python False: batch norm / dropout are built inference-only (no tf.cond on a flag).
        logits = models.define_model(x, False, MODEL, len(config.MSD_LABELS))[0]
        tf.nn.sigmoid(logits, name="tags")
        n_params = int(sum(np.prod(v.shape.as_list())
                           for v in tf.compat.v1.trainable_variables()))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, str(ckpt_dir) + "/")
            tf_out = sess.run("tags:0", feed_dict={"melspec:0": fixed_input()})
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), ["tags"])
    return frozen, n_params, tf_out, list(config.MSD_LABELS)


def to_onnx(frozen):
    import numpy as np
    import onnx
    import tf2onnx

    model, _ = tf2onnx.convert.from_graph_def(
        frozen, input_names=["melspec:0"], output_names=["tags:0"], opset=OPSET)
    # tf2onnx keeps TF tensor names ("melspec:0"); give the graph plain ones.
    rename = {"melspec:0": "melspec", "tags:0": "tags"}
    g = model.graph
    for node in g.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for vi in list(g.input) + list(g.output):
        vi.name = rename.get(vi.name, vi.name)
    g.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    g.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
    g.name = "musicnn_msd"
    model.ir_version = IR_VERSION
    model.producer_name = "melotag convert_musicnn.py"
    model.doc_string = ("musicnn MSD_musicnn (Pons & Serra 2019, MSD top-50 tags), converted from "
                        "the checkpoint in musicnn 0.1.0 (jordipons/musicnn, ISC).")
    onnx.checker.check_model(model)
    n_init = sum(int(np.prod(t.dims)) for t in g.initializer)
    print(f"ONNX initializers: {n_init:,} values after tf2onnx's constant folding")
    return model


def self_check(onnx_path, tf_out):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    x = fixed_input()
    y = sess.run([out.name], {inp.name: x})[0]
    diff = float(np.abs(y - tf_out).max())
    print(f"onnxruntime {ort.__version__}: input {inp.name} {inp.shape} -> output {out.name} "
          f"{out.shape}; max |onnx - tensorflow| = {diff:.2e} (tolerance {TOLERANCE:g})")
    one = x[:1]
    sess.run([out.name], {inp.name: one})
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        sess.run([out.name], {inp.name: one})
    print(f"onnxruntime, one thread: {(time.perf_counter() - t0) / reps * 1000:.1f} ms per "
          f"{N_FRAMES}-frame patch")
    if not (y.shape == tf_out.shape and diff < TOLERANCE):
        raise SystemExit("self-check FAILED: ONNX output disagrees with TensorFlow; model not written")
    print("self-check passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "models"), help="output folder")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args()

    t_start = time.perf_counter()
    out_dir = Path(a.out)
    out = out_dir / OUT_NAME
    if out.exists() and out.stat().st_mtime > SCRIPT.stat().st_mtime and not a.force:
        print(f"{out} is up to date (newer than {SCRIPT.name}); use --force to rebuild")
        return

    try:
        import musicnn
    except ImportError:
        die("the musicnn package is not installed in this Python; run `make setup` "
            "(it installs .venv-musicnn)")
    ckpt_dir = Path(musicnn.__file__).resolve().parent / MODEL
    for name, want in CKPT_SHA256.items():
        f = ckpt_dir / name
        if not f.is_file():
            die(f"{f} is missing (musicnn 0.1.0 expected)")
        got = sha256_of(f)
        if got != want:
            die(f"{f}: sha256 {got} != expected {want}; refusing it")
    print(f"checkpoint: {ckpt_dir} (sha256 ok)")

    frozen, n_params, tf_out, labels = build_and_freeze(ckpt_dir)
    print(f"parameters: {n_params:,} (trainable; batch-norm moving statistics excluded)")
    if n_params != EXPECTED_PARAMS:
        die(f"expected {EXPECTED_PARAMS:,} parameters, got {n_params:,}")
    if labels != crnn_tags():
        die("musicnn MSD_LABELS differ from the tags of models/choi2016_crnn.toml")
    print(f"tags: MSD_LABELS ({len(labels)}) equal the CRNN manifest's tags, in order")
    model = to_onnx(frozen)
    save_checked(model, out, lambda tmp: self_check(tmp, tf_out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, IR {IR_VERSION}, opset {OPSET}, "
          f"input melspec [N,{N_FRAMES},{N_MELS}] -> tags [N,{N_TAGS}]) "
          f"in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
