#!/usr/bin/env python3
"""Convert the Choi et al. 2016 Keras music taggers (MSD top-50) to ONNX.

Usage: python tools/convert_choi2016.py --model crnn|cnn [--src DIR] [--out models/] [--force]

Reads the upstream Keras 1.x weights (HDF5) with h5py and builds the ONNX graph by hand with
onnx.helper (no TensorFlow/Keras needed). Input "melspec" float32 [N,1,96,1366]; outputs, in
this order:
  "tags"      float32 [N,50]: sigmoid scores, tag order = models/choi2016_*.toml `tags`;
  "embedding" float32 [N,D]: the last hidden layer, what feeds the output dense layer: the
              CRNN's last GRU output (D = 32), the CNN's flattened last conv block (D = 256).

Weights come from --src (default: <repo>/../shared/upstream/choi2016) when present there, else
they are downloaded from the upstream GitHub repository into <repo>/.cache/upstream/. A file
whose sha256 differs from the expected one is refused.

Model quirks implemented (see the upstream README in the shared folder):
  (Each block's max-pooling runs before its ELU, and the ELU is built from Min/Exp/Sub/Max:
  both for speed, both the same function; see build_onnx and elu_onnx.)
  CRNN: time zero-pad 37|37 (1366 -> 1440); bn_0_freq normalises per *time frame*;
        4 x [conv3x3 same -> BN (running_std is a VARIANCE, eps 1e-3) -> ELU -> maxpool];
        permute to 15 steps x 128; Keras-1 GRU(32, sequences) -> GRU(32, last), gates
        hard-sigmoid clip(0.2x+0.5,0,1), reset applied to h_prev before the U_h matmul,
        h = z*h_prev + (1-z)*hh; dense 50 -> sigmoid.
  CNN:  no padding; bn_0_freq per time frame (1366); 5 x [conv -> BN (running_std is a true
        STD, y = g*(x-m)/(std+1e-6)+b, Keras 1.0.6) -> ELU -> maxpool]; flatten; dense; sigmoid.

After building, the model is self-checked with onnxruntime before it is moved into place: both
outputs against a plain numpy forward pass, "tags" against the same graph built without the
embedding output (the conversion before it existed: must be equal within 1e-7), and, for the
CRNN, against the scores published upstream. The committed manifest must declare the embedding
output and size.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converter_util import (EMBEDDING_OUTPUT, TAGS_OUTPUT, check_manifest, die,  # noqa: E402
                            save_checked, sha256_of, up_to_date)

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
SHARED = REPO.parent / "shared"
DEFAULT_SRC = SHARED / "upstream" / "choi2016"
CACHE = REPO / ".cache" / "upstream"
UPSTREAM_RAW = "https://github.com/keunwoochoi/music-auto_tagging-keras/raw/master/data/"

IR_VERSION = 8
OPSET = 17
N_MELS, N_FRAMES = 96, 1366

MODELS = {
    "crnn": {
        "file": "music_tagger_crnn_weights_tensorflow.h5",
        "sha256": "df63638de9f3113780768181670c554f122fbd1297c63c065836d70a251115a8",
        "id": "choi2016_crnn",
        "expected_params": 396786,
        "embedding_size": 32,      # gru2 units
    },
    "cnn": {
        "file": "music_tagger_cnn_weights_tensorflow.h5",
        "sha256": "8b61b73a8065cb084a9b56e8b5421ee876f38a1aca109ec2ad336e3a17c7c421",
        "id": "choi2016_cnn",
        "expected_params": None,
        "embedding_size": 256,     # conv5 channels x 1 x 1 after its pooling
    },
}

CRNN_CONV = [("conv1", "bn1", (2, 2)), ("conv2", "bn2", (3, 3)),
             ("conv3", "bn3", (4, 4)), ("conv4", "bn4", (4, 4))]
CNN_CONV = [("conv1", "bn1", (2, 4)), ("conv2", "bn2", (2, 4)), ("conv3", "bn3", (2, 4)),
            ("conv4", "bn4", (3, 5)), ("conv5", "bn5", (4, 4))]
CRNN_PAD = 37
CRNN_BN_EPS = 1e-3   # Keras >= 1.1: running_std holds a variance
CNN_BN_EPS = 1e-6    # Keras 1.0.6: running_std is a std, eps added to the std


# ----------------------------------------------------------------------------- weights
def locate_weights(spec, src):
    name, want = spec["file"], spec["sha256"]
    local = Path(src) / name
    if local.is_file():
        got = sha256_of(local)
        if got != want:
            die(f"{local}: sha256 {got} != expected {want}; refusing it")
        return local
    cached = CACHE / name
    if cached.is_file():
        if sha256_of(cached) == want:
            return cached
        print(f"cached {cached} has a wrong sha256, downloading again")
    CACHE.mkdir(parents=True, exist_ok=True)
    url = UPSTREAM_RAW + name
    print(f"{local} not found; downloading {url}")
    fd, tmp = tempfile.mkstemp(dir=CACHE, prefix=name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=120) as r:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
    except OSError as e:
        die(f"could not download {url}: {e}\n(put {name} into --src or {CACHE} by hand)")
    else:
        got = sha256_of(tmp)
        if got != want:
            die(f"downloaded {name}: sha256 {got} != expected {want}; refusing it")
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return cached


PLAIN_WEIGHTS = {"W", "b", "gamma", "beta", "running_mean", "running_std"}


def load_h5(path):
    """Return {layer: {short_name: array}} with names like 'W', 'b', 'gamma', 'running_std',
    'W_z', ... (Keras 1 suffixes such as '_1:0' stripped)."""
    layers = {}
    with h5py.File(path, "r") as h:
        for lname in [n.decode() for n in h.attrs["layer_names"]]:
            g = h[lname]
            wnames = [n.decode() if isinstance(n, bytes) else str(n)
                      for n in g.attrs.get("weight_names", [])]
            d = {}
            for wn in wnames:
                short = wn.split(":")[0]
                assert short.startswith(lname + "_"), (lname, wn)
                short = short[len(lname) + 1:]
                base = short.rsplit("_", 1)[0]
                if short.rsplit("_", 1)[-1].isdigit() and base in PLAIN_WEIGHTS:
                    short = base   # Keras 1.1+ suffix: 'conv1_W_1:0' -> 'W'
                d[short] = np.asarray(g[wn], dtype=np.float32)
            if d:
                layers[lname] = d
    return layers


def count_params(layers):
    """Trainable parameters as Keras reports them (BN running statistics excluded)."""
    return int(sum(a.size for d in layers.values() for k, a in d.items()
                   if k not in ("running_mean", "running_std")))


def bn_affine(bn, kind):
    """Return (scale, shift) such that BN(x) = x*scale + shift, computed in float64."""
    g, b = bn["gamma"].astype(np.float64), bn["beta"].astype(np.float64)
    m, s = bn["running_mean"].astype(np.float64), bn["running_std"].astype(np.float64)
    if kind == "var":
        scale = g / np.sqrt(s + CRNN_BN_EPS)
    else:
        scale = g / (s + CNN_BN_EPS)
    return scale, b - m * scale


# ----------------------------------------------------------------------------- numpy reference
def np_conv3x3_same(x, w, b):
    """x [N,C,H,W], w [O,C,3,3] (cross-correlation), b [O]."""
    n, c, hh, ww = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 3, 3, hh, ww), dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            cols[:, :, i, j] = xp[:, :, i:i + hh, j:j + ww]
    out = np.einsum("ocij,ncijhw->nohw", w, cols, optimize=True)
    return out + b[None, :, None, None]


def np_maxpool(x, ph, pw):
    n, c, hh, ww = x.shape
    ho, wo = hh // ph, ww // pw
    x = x[:, :, :ho * ph, :wo * pw].reshape(n, c, ho, ph, wo, pw)
    return x.max(axis=(3, 5))


def np_elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def np_hsig(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_gru(xs, p, return_sequences):
    """Keras 1 GRU. xs [N,T,F]."""
    n, t, _ = xs.shape
    h = np.zeros((n, p["U_z"].shape[0]), dtype=np.float64)
    seq = []
    for k in range(t):
        x = xs[:, k]
        z = np_hsig(x @ p["W_z"] + p["b_z"] + h @ p["U_z"])
        r = np_hsig(x @ p["W_r"] + p["b_r"] + h @ p["U_r"])
        hh = np.tanh(x @ p["W_h"] + p["b_h"] + (r * h) @ p["U_h"])
        h = z * h + (1 - z) * hh
        seq.append(h)
    return np.stack(seq, 1) if return_sequences else h


def numpy_forward(kind, layers, x):
    """Plain numpy (float64) forward pass; x [N,1,96,1366]. Returns (tags, embedding): the
    sigmoid scores and the last hidden layer."""
    L = {k: {n: a.astype(np.float64) for n, a in d.items()} for k, d in layers.items()}
    x = x.astype(np.float64)
    if kind == "crnn":
        x = np.pad(x, ((0, 0), (0, 0), (0, 0), (CRNN_PAD, CRNN_PAD)))
        convs, bnkind = CRNN_CONV, "var"
    else:
        convs, bnkind = CNN_CONV, "std"
    s, t = bn_affine(layers["bn_0_freq"], bnkind)
    x = x * s + t                                  # per time frame (last axis)
    for conv, bn, (ph, pw) in convs:
        x = np_conv3x3_same(x, L[conv]["W"], L[conv]["b"])
        s, t = bn_affine(layers[bn], bnkind)
        x = x * s[None, :, None, None] + t[None, :, None, None]
        x = np_maxpool(np_elu(x), ph, pw)
    if kind == "crnn":
        x = x[:, :, 0, :].transpose(0, 2, 1)       # [N,15,128]
        x = np_gru(x, L["gru1"], True)
        x = np_gru(x, L["gru2"], False)
    else:
        x = x.reshape(x.shape[0], -1)
    y = x @ L["output"]["W"] + L["output"]["b"]
    return 1.0 / (1.0 + np.exp(-y)), x


# ----------------------------------------------------------------------------- ONNX graph
class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base, arr, dtype=np.float32):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), nm))
        return nm

    def op(self, op_type, inputs, base=None, out=None, **attrs):
        out = out or self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def op_multi(self, op_type, inputs, n_out, base, **attrs):
        outs = [self.name(f"{base}_o{i}") for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(base), **attrs))
        return outs


def elu_onnx(B, x, base):
    """ELU (alpha 1) as max(x, exp(min(x, 0)) - 1): the same function (e^x - 1 >= x, equal at
    0), through ONNX Runtime's vectorised Exp. Its Elu kernel calls a scalar exp per value:
    3.3 ms on the CRNN's first pooled block (2.2 M values), against 1.4 ms this way; the two
    differ by exp's rounding (6e-8 at most on normal values)."""
    neg = B.op("Min", [x, B.const(base + "_zero", 0.0)], base + "_min")
    em1 = B.op("Sub", [B.op("Exp", [neg], base + "_exp"), B.const(base + "_one", 1.0)], base + "_sub")
    return B.op("Max", [x, em1], base)


def build_onnx(kind, layers, with_embedding=True):
    """The ONNX model: outputs "tags" and, unless `with_embedding` is False (the graph as it was
    before the embedding output, for the self-check), "embedding"."""
    B = Builder()
    x = "melspec"
    if kind == "crnn":
        pads = B.const("time_pad", [0, 0, 0, CRNN_PAD, 0, 0, 0, CRNN_PAD], np.int64)
        x = B.op("Pad", [x, pads], "zeropad_time", mode="constant")
        convs, bnkind = CRNN_CONV, "var"
    else:
        convs, bnkind = CNN_CONV, "std"
    s, t = bn_affine(layers["bn_0_freq"], bnkind)   # shape [frames], broadcast on last axis
    x = B.op("Mul", [x, B.const("bn_0_freq_scale", s)], "bn_0_freq_mul")
    x = B.op("Add", [x, B.const("bn_0_freq_shift", t)], "bn_0_freq")
    for conv, bn, (ph, pw) in convs:
        s, t = bn_affine(layers[bn], bnkind)
        w = layers[conv]["W"].astype(np.float64) * s[:, None, None, None]   # fold BN
        b = layers[conv]["b"].astype(np.float64) * s + t
        x = B.op("Conv", [x, B.const(conv + "_W", w), B.const(conv + "_b", b)], conv,
                 kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
        # Pooling before the ELU (Keras: ELU, then pooling): the ELU is increasing, so
        # max(elu(x)) = elu(max(x)) exactly, and it then runs on a 4-16x smaller tensor
        # (ONNX Runtime's Elu, unfused, took half the CRNN's time; README, "Inference speed").
        x = B.op("MaxPool", [x], conv + "_pool", kernel_shape=[ph, pw], strides=[ph, pw])
        x = elu_onnx(B, x, conv + "_elu")
    if kind == "crnn":
        x = B.op("Squeeze", [x, B.const("axis2", [2], np.int64)], "squeeze_freq")  # [N,128,15]
        x = B.op("Transpose", [x], "permute", perm=[0, 2, 1])                      # [N,15,128]
        steps = gru_onnx(B, "gru1", layers["gru1"], x, 15)
        x = gru_onnx(B, "gru2", layers["gru2"], steps, 15)[-1]
    else:
        x = B.op("Flatten", [x], "flatten", axis=1)
    outputs = [helper.make_tensor_value_info(TAGS_OUTPUT, TensorProto.FLOAT, ["N", 50])]
    if with_embedding:
        B.op("Identity", [x], out=EMBEDDING_OUTPUT)
        outputs.append(helper.make_tensor_value_info(
            EMBEDDING_OUTPUT, TensorProto.FLOAT, ["N", MODELS[kind]["embedding_size"]]))
    o = layers["output"]
    x = B.op("MatMul", [x, B.const("output_W", o["W"])], "output_matmul")
    x = B.op("Add", [x, B.const("output_b", o["b"])], "output_logits")
    B.op("Sigmoid", [x], out=TAGS_OUTPUT)

    inp = helper.make_tensor_value_info("melspec", TensorProto.FLOAT, ["N", 1, N_MELS, N_FRAMES])
    graph = helper.make_graph(B.nodes, MODELS[kind]["id"], [inp], outputs, B.inits)
    model = helper.make_model(graph, producer_name="melotag convert_choi2016.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = (f"Choi et al. 2016 MusicTagger{kind.upper()} (MSD top-50), converted "
                        "from upstream Keras weights keunwoochoi/music-auto_tagging-keras (MIT).")
    onnx.checker.check_model(model)
    return model


def gru_onnx(B, nm, p, x, T):
    """Unrolled Keras-1 GRU. x is either a [N,T,F] tensor name or a list of T [N,F] names.
    Returns the list of T hidden-state names ([N,32] each)."""
    if isinstance(x, str):
        # input projections for all steps at once, then split into steps
        proj = {}
        for g in "zrh":
            y = B.op("MatMul", [x, B.const(f"{nm}_W_{g}", p[f"W_{g}"])], f"{nm}_xW{g}")
            y = B.op("Add", [y, B.const(f"{nm}_b_{g}", p[f"b_{g}"])], f"{nm}_x{g}")
            parts = B.op_multi("Split", [y], T, f"{nm}_split{g}", axis=1)
            ax = B.const(f"{nm}_ax1", [1], np.int64)
            proj[g] = [B.op("Squeeze", [s_, ax], f"{nm}_x{g}_t{k}") for k, s_ in enumerate(parts)]
        xs = [{g: proj[g][k] for g in "zrh"} for k in range(T)]
    else:
        W = {g: B.const(f"{nm}_W_{g}", p[f"W_{g}"]) for g in "zrh"}
        bb = {g: B.const(f"{nm}_b_{g}", p[f"b_{g}"]) for g in "zrh"}
        xs = [{g: B.op("Add", [B.op("MatMul", [xt, W[g]], f"{nm}_xW{g}_t{k}"), bb[g]],
                       f"{nm}_x{g}_t{k}") for g in "zrh"} for k, xt in enumerate(x)]
    U = {g: B.const(f"{nm}_U_{g}", p[f"U_{g}"]) for g in "zrh"}
    hs, h = [], None
    for k in range(T):
        xt = xs[k]
        if h is None:  # h_prev = 0: recurrent terms vanish
            z = B.op("HardSigmoid", [xt["z"]], f"{nm}_z_t{k}", alpha=0.2, beta=0.5)
            hh = B.op("Tanh", [xt["h"]], f"{nm}_hh_t{k}")
            # h = (1 - z) * hh = hh - z*hh
            h = B.op("Sub", [hh, B.op("Mul", [z, hh], f"{nm}_zhh_t{k}")], f"{nm}_h_t{k}")
        else:
            z = B.op("HardSigmoid", [B.op("Add", [xt["z"], B.op("MatMul", [h, U["z"]], f"{nm}_hUz_t{k}")],
                                          f"{nm}_zpre_t{k}")], f"{nm}_z_t{k}", alpha=0.2, beta=0.5)
            r = B.op("HardSigmoid", [B.op("Add", [xt["r"], B.op("MatMul", [h, U["r"]], f"{nm}_hUr_t{k}")],
                                          f"{nm}_rpre_t{k}")], f"{nm}_r_t{k}", alpha=0.2, beta=0.5)
            rh = B.op("Mul", [r, h], f"{nm}_rh_t{k}")
            hh = B.op("Tanh", [B.op("Add", [xt["h"], B.op("MatMul", [rh, U["h"]], f"{nm}_rhUh_t{k}")],
                                    f"{nm}_hpre_t{k}")], f"{nm}_hh_t{k}")
            # h = z*h_prev + (1-z)*hh = hh + z*(h_prev - hh)
            d = B.op("Sub", [h, hh], f"{nm}_d_t{k}")
            h = B.op("Add", [hh, B.op("Mul", [z, d], f"{nm}_zd_t{k}")], f"{nm}_h_t{k}")
        hs.append(h)
    return hs


# ----------------------------------------------------------------------------- self-check
def manifest_path(kind):
    """The committed manifest of the model."""
    return REPO / "models" / f"{MODELS[kind]['id']}.toml"


def load_tags(kind):
    """The 50 tag names in output order: the shared MSD list when present, else the manifest's."""
    shared_tags = SHARED / "reference" / "msd50_tags.txt"
    if shared_tags.is_file():
        return [l.strip() for l in shared_tags.read_text().splitlines() if l.strip()]
    with open(manifest_path(kind), "rb") as f:
        return tomllib.load(f)["tags"]


def self_check(kind, layers, onnx_path, tags_only):
    """Check the written model (see the module docstring) on the upstream example inputs; print
    the figures; raise SystemExit on failure."""
    import onnxruntime as ort
    audio = SHARED / "upstream" / "choi2016" / "audio"
    names = {"crnn": ["bensound-cute", "bensound-dubstep"], "cnn": ["bensound-thejazzpiano"]}[kind]
    files = [audio / f"{n}.npy" for n in names]
    if not all(f.is_file() for f in files):
        print(f"self-check skipped: reference inputs not found under {audio}")
        return
    tags = load_tags(kind)
    so = ort.SessionOptions()
    so.log_severity_level = 3

    def session(model):
        return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])

    sess = session(str(onnx_path))
    outputs = [o.name for o in sess.get_outputs()]
    if outputs != [TAGS_OUTPUT, EMBEDDING_OUTPUT]:
        raise SystemExit(f"self-check FAILED: outputs {outputs}; model not written")
    x = np.concatenate([np.load(f).astype(np.float32) for f in files], 0)
    t0 = time.perf_counter()
    y, emb = sess.run(outputs, {"melspec": x})
    dt = time.perf_counter() - t0
    ref, ref_emb = numpy_forward(kind, layers, x)
    npdiff = float(np.abs(ref - y).max())
    # the embedding's scale varies by model (GRU states in [-1, 1], CNN activations larger)
    scale = max(1.0, float(np.abs(ref_emb).max()))
    embdiff = float(np.abs(ref_emb - emb).max())
    y_old = session(tags_only.SerializeToString()).run([TAGS_OUTPUT], {"melspec": x})[0]
    olddiff = float(np.abs(y_old - y).max())
    print(f"onnxruntime: batch of {len(files)} in {dt*1000:.0f} ms; "
          f"max |onnx - numpy forward|: tags {npdiff:.2e}, embedding {embdiff:.2e} "
          f"(embedding values up to {scale:.2f})")
    print(f"tags vs the graph without the embedding output: max |diff| = {olddiff:.2e}"
          f"{' (bit-identical)' if np.array_equal(y, y_old) else ''}")
    ok = npdiff < 1e-4 and embdiff < 1e-5 * scale and emb.shape == ref_emb.shape
    if not ok:
        print("FAIL: ONNX outputs disagree with the numpy forward pass", file=sys.stderr)
    if olddiff > 1e-7:
        ok = False
        print("FAIL: tags differ from the graph without the embedding output", file=sys.stderr)
    for i, n in enumerate(names):
        top = np.argsort(-y[i])[:10]
        print(f"  {n}: " + ", ".join(f"{tags[j]} {y[i, j]:.3f}" for j in top))
    if kind == "crnn":
        pub_path = SHARED / "reference" / "crnn_published.json"
        if not pub_path.is_file():
            print(f"published scores not found ({pub_path}); score check skipped")
        else:
            pub = json.loads(pub_path.read_text())["tracks"]
            worst = 0.0
            for i, n in enumerate(names):
                for tag, score in pub[n]:
                    got = float(y[i, tags.index(tag)])
                    diff = abs(got - score)
                    worst = max(worst, diff)
                    if diff > 0.0015:
                        ok = False
                        print(f"FAIL: {n} {tag}: got {got:.4f}, published {score:.3f}",
                              file=sys.stderr)
            print(f"published scores: max |diff| = {worst:.5f} (tolerance 0.0015)")
    else:
        top = tags[int(np.argmax(y[0]))]
        if top != "jazz":
            ok = False
            print(f"FAIL: top tag of bensound-thejazzpiano is {top!r}, expected 'jazz'",
                  file=sys.stderr)
        else:
            print("check: 'jazz' is the top tag of bensound-thejazzpiano")
    if not ok:
        raise SystemExit("self-check FAILED; model not written")
    print("self-check passed")


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--src", default=str(DEFAULT_SRC),
                    help="folder holding the upstream .h5 files (default: %(default)s)")
    ap.add_argument("--out", default=str(REPO / "models"), help="output folder")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime self-check")
    a = ap.parse_args()

    t_start = time.perf_counter()
    spec = MODELS[a.model]
    out = Path(a.out) / f"{spec['id']}.onnx"
    if up_to_date(out, SCRIPT) and not a.force:
        print(f"{out} is up to date (newer than its converter); use --force to rebuild")
        return

    h5 = locate_weights(spec, a.src)
    print(f"weights: {h5} (sha256 ok)")
    layers = load_h5(h5)
    n_params = count_params(layers)
    print(f"parameters: {n_params:,} (trainable; BN running statistics excluded)")
    if spec["expected_params"] and n_params != spec["expected_params"]:
        die(f"expected {spec['expected_params']:,} parameters, got {n_params:,}")

    check_manifest(manifest_path(a.model), load_tags(a.model), spec["embedding_size"])

    model = build_onnx(a.model, layers)
    def check(tmp):
        if a.no_check:
            print("self-check skipped (--no-check)")
        else:
            self_check(a.model, layers, tmp, build_onnx(a.model, layers, with_embedding=False))
    save_checked(model, out, check)
    print(f"wrote {out} ({out.stat().st_size/1e6:.2f} MB, IR {IR_VERSION}, opset {OPSET}, "
          f"input melspec [N,1,{N_MELS},{N_FRAMES}] -> tags [N,50], "
          f"embedding [N,{spec['embedding_size']}]) in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
