#!/usr/bin/env python3
"""Convert musicnn's taggers (Pons & Serra 2019: MSD_musicnn, MTT_musicnn) to ONNX.

Usage: .venv-musicnn/bin/python tools/convert_musicnn.py [--model msd|mtt] [--audio DIR]
                                                          [--out models/] [--force]

Runs in its own venv (.venv-musicnn, tools/requirements-musicnn.txt: TensorFlow 2.15 CPU,
numpy<2, tf2onnx, onnx 1.16.2) with the `musicnn` 0.1.0 package installed, which ships the
TF1 checkpoints under musicnn/MSD_musicnn/ and musicnn/MTT_musicnn/ (same architecture, 50
tags each: Million Song Dataset and MagnaTagATune top-50) and the model code in
musicnn/models.py.

Steps: build musicnn's own graph (musicnn.models.define_model) with tf.compat.v1 in graph
mode, passing the Python value False as the training flag (batch norm uses its moving
statistics, dropout is the identity); restore the checkpoint; apply sigmoid like musicnn's
extractor; freeze the variables; convert with tf2onnx at opset 17; set the IR version to 8; pool the
front end's branches before their ReLU and batch norm (`pool_first`, exact up to rounding).

Input "melspec" float32 [N, 187, 96] (time first: 187 frames of 96 log-mel bands, see the
manifest's [frontend]). Outputs, in this order:
  "tags"      float32 [N, 50]: sigmoid scores, order = musicnn.configuration.MSD_LABELS or
              MTT_LABELS = the manifest's `tags`;
  "embedding" float32 [N, 200]: the penultimate dense layer after its batch norm (the tensor
              musicnn's extractor returns as 'penultimate'), before the output layer.

Self-check before the model is moved into place, on a batch of synthetic patches plus every
patch musicnn's own front end (musicnn.extractor.batch_data) cuts from two real tracks in
--audio: onnxruntime's "tags" and "embedding" must match TensorFlow's within 1e-5 (max abs
diff); "tags" must equal, within 1e-7, the output of a tags-only conversion of the same
frozen graph (the conversion as it was before the embedding output existed) and, within
1e-6, the output of tf2onnx's graph without `pool_first`; the parameter
count must be the expected one and the committed manifest (models/musicnn_<model>.toml) must
list the checkpoint's labels in order and declare the embedding output; otherwise exit
non-zero and write nothing. The output is written atomically (temp file + rename) and is not
rebuilt when it is newer than this script and converter_util.py (use --force).
"""
import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converter_util import (EMBEDDING_OUTPUT, TAGS_OUTPUT, check_manifest, die,  # noqa: E402
                            save_checked, sha256_of, up_to_date)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# musicnn's model code uses tf.compat.v1.layers (one deprecation warning per layer), and
# librosa warns when it falls back to audioread for mp3.
warnings.filterwarnings("ignore", module="musicnn|librosa")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
DEFAULT_AUDIO = REPO.parent / "shared" / "upstream" / "choi2016" / "audio"

# --model -> the checkpoint folder in the musicnn package, its label list in
# musicnn.configuration, the manifest id, and the sha256 of the checkpoint as shipped in
# musicnn 0.1.0.
MODELS = {
    "msd": {
        "checkpoint": "MSD_musicnn",
        "labels": "MSD_LABELS",
        "id": "musicnn_msd",
        "dataset": "Million Song Dataset top-50 tags",
        "sha256": {
            ".data-00000-of-00001":
                "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
            ".index": "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
        },
    },
    "mtt": {
        "checkpoint": "MTT_musicnn",
        "labels": "MTT_LABELS",
        "id": "musicnn_mtt",
        "dataset": "MagnaTagATune top-50 tags",
        "sha256": {
            ".data-00000-of-00001":
                "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
            ".index": "da2d7bb670b2b31e9bc441bb1bd75eca31b5b061f963cc1f9630c1aff3238f57",
        },
    },
}
IR_VERSION = 8
OPSET = 17
N_FRAMES, N_MELS, N_TAGS = 187, 96, 50
# Units of the penultimate dense layer (define_model's num_units_backend for both models).
EMBEDDING_SIZE = 200
# Trainable variables of musicnn's graph (792,079 with the batch-norm moving statistics).
EXPECTED_PARAMS = 787159
TOLERANCE = 1e-5            # ONNX vs TensorFlow, both outputs
TAGS_UNCHANGED = 1e-7       # two-output vs tags-only conversion
POOL_FIRST_TAGS = 1e-6      # tags, pool_first against tf2onnx's graph as it came (rounding)
# ONNX Runtime's blocked (NCHWc) layout groups channels by 16 with AVX-512 (8 with AVX2).
NCHWC_BLOCK = 16
# Real tracks whose every 3 s patch joins the self-check batch (files in --audio).
CHECK_TRACKS = ["bensound-thejazzpiano.mp3", "bensound-dubstep.mp3"]


def synthetic_patches():
    """Deterministic patches shaped like real input: log10(1 + 10000*S) lies in about [0, 6]."""
    import numpy as np
    rng = np.random.default_rng(20190801)
    x = rng.gamma(2.0, 0.6, size=(3, N_FRAMES, N_MELS)).astype(np.float32)
    x[1] *= 0.25           # a quieter patch
    x[2, :, 48:] = 0.0     # band-limited patch
    return x


def check_batch(audio_dir):
    """The self-check input: the synthetic patches, plus the patches musicnn's own front end
    cuts from CHECK_TRACKS when they are in `audio_dir`."""
    import numpy as np
    files = [Path(audio_dir) / name for name in CHECK_TRACKS]
    if not all(f.is_file() for f in files):
        print(f"self-check on synthetic patches only: {', '.join(CHECK_TRACKS)} not in {audio_dir}")
        return synthetic_patches()
    from musicnn.extractor import batch_data
    real = [batch_data(str(f), N_FRAMES, N_FRAMES)[0].astype(np.float32) for f in files]
    x = np.concatenate([synthetic_patches()] + real)
    print(f"self-check batch: {len(x)} patches (3 synthetic + {len(x) - 3} from "
          f"{', '.join(CHECK_TRACKS)}, musicnn.extractor.batch_data)")
    return x


def build_and_freeze(spec, ckpt_dir, x):
    """musicnn's graph restored from `ckpt_dir`. Returns the frozen GraphDef with both outputs,
    the frozen GraphDef with "tags" only (the conversion before the embedding existed), the
    trainable parameter count, TensorFlow's (tags, embedding) on `x`, and the label list."""
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    labels = list(getattr(config, spec["labels"]))
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    graph = tf.Graph()
    with graph.as_default():
        inp = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS], name="melspec")
        # Python False: batch norm / dropout are built inference-only (no tf.cond on a flag).
        # build_musicnn returns (logits, timbral, temporal, cnn1, cnn2, cnn3, mean_pool,
        # max_pool, penultimate), the last being what musicnn's extractor calls 'penultimate'.
        outs = models.define_model(inp, False, spec["checkpoint"], len(labels))
        logits, penultimate = outs[0], outs[-1]
        tf.nn.sigmoid(logits, name=TAGS_OUTPUT)
        tf.identity(penultimate, name=EMBEDDING_OUTPUT)
        n_params = int(sum(np.prod(v.shape.as_list())
                           for v in tf.compat.v1.trainable_variables()))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, str(ckpt_dir) + "/")
            tf_out = sess.run([f"{TAGS_OUTPUT}:0", f"{EMBEDDING_OUTPUT}:0"],
                              feed_dict={"melspec:0": x})
            freeze = tf.compat.v1.graph_util.convert_variables_to_constants
            frozen = freeze(sess, graph.as_graph_def(), [TAGS_OUTPUT, EMBEDDING_OUTPUT])
            frozen_tags = freeze(sess, graph.as_graph_def(), [TAGS_OUTPUT])
    return frozen, frozen_tags, n_params, tf_out, labels


def to_onnx(spec, frozen, outputs, pooled_first=True):
    """tf2onnx conversion of `frozen` with graph outputs `outputs` (plain names, in order),
    rewritten by `pool_first` unless `pooled_first` is False."""
    import onnx
    import tf2onnx

    model, _ = tf2onnx.convert.from_graph_def(
        frozen, input_names=["melspec:0"], output_names=[f"{o}:0" for o in outputs],
        opset=OPSET)
    # tf2onnx keeps TF tensor names ("melspec:0"); give the graph plain ones.
    rename = {f"{n}:0": n for n in ["melspec"] + outputs}
    g = model.graph
    for node in g.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for vi in list(g.input) + list(g.output):
        vi.name = rename.get(vi.name, vi.name)
        vi.type.tensor_type.shape.dim[0].dim_param = "N"
    if [o.name for o in g.output] != outputs:
        die(f"tf2onnx produced outputs {[o.name for o in g.output]}, expected {outputs}")
    g.name = spec["id"]
    model.ir_version = IR_VERSION
    model.producer_name = "melotag convert_musicnn.py"
    model.doc_string = (f"musicnn {spec['checkpoint']} (Pons & Serra 2019, {spec['dataset']}), "
                        "converted from the checkpoint in musicnn 0.1.0 (jordipons/musicnn, ISC). "
                        "Outputs: tags (sigmoid scores), embedding (penultimate dense layer).")
    onnx.checker.check_model(model)
    return pool_first(model) if pooled_first else model


def pool_first(model):
    """Max-pool each front-end branch of musicnn before its ReLU and batch norm, in place.

    Each branch is conv -> ReLU -> batch norm -> max over the whole frequency axis. Per
    channel the batch norm is a*x + b: increasing when a > 0, so max(bn(relu(z))) =
    bn(relu(max z)); decreasing when a < 0, so the max is bn(relu(min z)) = bn(relu(-max(-z))).
    The filters and bias of the a < 0 channels are negated (exact), the conv output is
    max-pooled, multiplied by the sign, and the ReLU and batch norm then run on a 30-96x
    smaller tensor (they took 8 % of the time on the full one). The output channels are padded
    with zero filters to a multiple of NCHWC_BLOCK, which ONNX Runtime's blocked max-pool
    requires (without it, the whole conv output was re-laid out first: 10 % of the time; the
    blocked conv computes the padded channels anyway), and sliced off after the pooling.
    tools/onnx_macs.py does not count the zero filters."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    init = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    uses = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    replaced = {}   # id(MaxPool node) -> its replacement nodes
    dropped = set()
    for pool in [n for n in g.node if n.op_type == "MaxPool"]:
        bn = producer[pool.input[0]]
        relu = producer[bn.input[0]]
        conv = producer[relu.input[0]]
        if ((bn.op_type, relu.op_type, conv.op_type) != ("BatchNormalization", "Relu", "Conv")
                or uses[bn.output[0]] != 1 or uses[relu.output[0]] != 1
                or uses[conv.output[0]] != 1):
            die(f"pool_first: {pool.name} is not conv -> ReLU -> batch norm -> max-pool")
        w = numpy_helper.to_array(init[conv.input[1]])
        bias = numpy_helper.to_array(init[conv.input[2]])
        gamma = numpy_helper.to_array(init[bn.input[1]])
        sign = np.where(gamma < 0, -1.0, 1.0).astype(np.float32)
        channels = w.shape[0]
        padded = -(-channels // NCHWC_BLOCK) * NCHWC_BLOCK
        w_signed = np.zeros((padded,) + w.shape[1:], np.float32)
        w_signed[:channels] = w * sign[:, None, None, None]
        b_signed = np.zeros(padded, np.float32)
        b_signed[:channels] = bias * sign
        base = conv.output[0]
        names = {k: f"{base}_{k}" for k in ("w", "b", "z", "zmax", "max", "sign", "signed",
                                            "relu", "start", "end", "axis")}
        g.initializer.extend([
            numpy_helper.from_array(w_signed, names["w"]),
            numpy_helper.from_array(b_signed, names["b"]),
            numpy_helper.from_array(sign.reshape(1, -1, 1, 1), names["sign"]),
            numpy_helper.from_array(np.array([0], np.int64), names["start"]),
            numpy_helper.from_array(np.array([channels], np.int64), names["end"]),
            numpy_helper.from_array(np.array([1], np.int64), names["axis"]),
        ])
        new_conv = helper.make_node("Conv", [conv.input[0], names["w"], names["b"]], [names["z"]],
                                    name=conv.name)
        new_conv.attribute.extend(conv.attribute)
        new_pool = helper.make_node("MaxPool", [names["z"]], [names["zmax"]], name=pool.name)
        new_pool.attribute.extend(pool.attribute)
        nodes = [
            new_conv, new_pool,
            helper.make_node("Slice", [names["zmax"], names["start"], names["end"], names["axis"]],
                             [names["max"]], name=pool.name + "_unpad"),
            helper.make_node("Mul", [names["max"], names["sign"]], [names["signed"]],
                             name=pool.name + "_sign"),
            helper.make_node("Relu", [names["signed"]], [names["relu"]], name=relu.name),
        ]
        new_bn = helper.make_node("BatchNormalization", [names["relu"]] + list(bn.input[1:]),
                                  [pool.output[0]], name=bn.name)
        new_bn.attribute.extend(bn.attribute)
        nodes.append(new_bn)
        replaced[id(pool)] = nodes
        dropped.update({id(conv), id(relu), id(bn)})
    if len(replaced) != 5:
        die(f"pool_first: expected musicnn's 5 front-end branches, found {len(replaced)}")
    order = []
    for n in g.node:
        if id(n) in replaced:
            order.extend(replaced[id(n)])
        elif id(n) not in dropped:
            order.append(n)
    del g.node[:]
    g.node.extend(order)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model


def session(model_or_path):
    """A one-thread CPU onnxruntime session on an ONNX file path or serialized model bytes."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model_or_path, so, providers=["CPUExecutionProvider"])


def self_check(onnx_path, tags_only, plain, x, tf_out):
    """Check the written model against TensorFlow and the tags-only conversion (see the module
    docstring); print the figures; raise SystemExit on failure."""
    import numpy as np
    import onnxruntime as ort

    sess = session(str(onnx_path))
    names = [o.name for o in sess.get_outputs()]
    if names != [TAGS_OUTPUT, EMBEDDING_OUTPUT]:
        raise SystemExit(f"self-check FAILED: outputs {names}; model not written")
    tags, emb = sess.run(names, {"melspec": x})
    tf_tags, tf_emb = tf_out
    ref_tags = session(tags_only.SerializeToString()).run([TAGS_OUTPUT], {"melspec": x})[0]
    d_tags = float(np.abs(tags - tf_tags).max())
    d_emb = float(np.abs(emb - tf_emb).max())
    d_same = float(np.abs(tags - ref_tags).max())
    plain_sess = session(plain.SerializeToString())
    plain_tags, plain_emb = plain_sess.run(names, {"melspec": x})
    d_plain = float(np.abs(tags - plain_tags).max())
    d_plain_emb = float(np.abs(emb - plain_emb).max())
    shapes = ", ".join(f"{o.name} {o.shape}" for o in sess.get_outputs())
    print(f"onnxruntime {ort.__version__}: melspec {list(x.shape)} -> {shapes}")
    print(f"  max |onnx - tensorflow|: tags {d_tags:.2e}, embedding {d_emb:.2e} "
          f"(embedding values up to {float(np.abs(tf_emb).max()):.2f}; tolerance {TOLERANCE:g})")
    print(f"  tags vs the tags-only conversion: max |diff| = {d_same:.2e}"
          f"{' (bit-identical)' if np.array_equal(tags, ref_tags) else ''} "
          f"(tolerance {TAGS_UNCHANGED:g})")
    print(f"  pooled first vs tf2onnx's graph as it came: max |diff| tags {d_plain:.2e} "
          f"(tolerance {POOL_FIRST_TAGS:g}), embedding {d_plain_emb:.2e}")
    one = x[:1]
    for label, s in (("pooled first", sess), ("as tf2onnx wrote it", plain_sess)):
        s.run(names, {"melspec": one})
        t0 = time.perf_counter()
        reps = 20
        for _ in range(reps):
            s.run(names, {"melspec": one})
        print(f"onnxruntime, one thread, {label}: {(time.perf_counter() - t0) / reps * 1000:.1f} "
              f"ms per {N_FRAMES}-frame patch")
    ok = (tags.shape == tf_tags.shape and emb.shape == tf_emb.shape == (len(x), EMBEDDING_SIZE)
          and d_tags < TOLERANCE and d_emb < TOLERANCE and d_same <= TAGS_UNCHANGED
          and d_plain <= POOL_FIRST_TAGS)
    if not ok:
        raise SystemExit("self-check FAILED: ONNX outputs disagree; model not written")
    print("self-check passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="msd",
                    help="msd: MSD_musicnn (default), mtt: MTT_musicnn")
    ap.add_argument("--audio", default=str(DEFAULT_AUDIO),
                    help="folder holding the self-check tracks (default: %(default)s)")
    ap.add_argument("--out", default=str(REPO / "models"), help="output folder")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args()

    t_start = time.perf_counter()
    spec = MODELS[a.model]
    out = Path(a.out) / f"{spec['id']}.onnx"
    if up_to_date(out, SCRIPT) and not a.force:
        print(f"{out} is up to date (newer than its converter); use --force to rebuild")
        return

    try:
        import musicnn
    except ImportError:
        die("the musicnn package is not installed in this Python; run `make setup` "
            "(it installs .venv-musicnn)")
    ckpt_dir = Path(musicnn.__file__).resolve().parent / spec["checkpoint"]
    for name, want in spec["sha256"].items():
        f = ckpt_dir / name
        if not f.is_file():
            die(f"{f} is missing (musicnn 0.1.0 expected)")
        got = sha256_of(f)
        if got != want:
            die(f"{f}: sha256 {got} != expected {want}; refusing it")
    print(f"checkpoint: {ckpt_dir} (sha256 ok)")

    x = check_batch(a.audio)
    frozen, frozen_tags, n_params, tf_out, labels = build_and_freeze(spec, ckpt_dir, x)
    print(f"parameters: {n_params:,} (trainable; batch-norm moving statistics excluded)")
    if n_params != EXPECTED_PARAMS:
        die(f"expected {EXPECTED_PARAMS:,} parameters, got {n_params:,}")
    check_manifest(REPO / "models" / f"{spec['id']}.toml", labels, EMBEDDING_SIZE)
    model = to_onnx(spec, frozen, [TAGS_OUTPUT, EMBEDDING_OUTPUT])
    n_init = sum(math.prod(t.dims) for t in model.graph.initializer)
    print(f"ONNX initializers: {n_init:,} values after tf2onnx's constant folding and "
          "pool_first (its zero filters included)")
    tags_only = to_onnx(spec, frozen_tags, [TAGS_OUTPUT])
    plain = to_onnx(spec, frozen, [TAGS_OUTPUT, EMBEDDING_OUTPUT], pooled_first=False)
    save_checked(model, out, lambda tmp: self_check(tmp, tags_only, plain, x, tf_out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, IR {IR_VERSION}, opset {OPSET}, "
          f"input melspec [N,{N_FRAMES},{N_MELS}] -> tags [N,{N_TAGS}], "
          f"embedding [N,{EMBEDDING_SIZE}]) in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
