#!/usr/bin/env python3
"""Scores of the Choi et al. 2016 taggers by a plain numpy forward pass over the upstream Keras
weights: the reference the converted ONNX models are tested against (no ONNX, no Keras).

Usage: python tools/choi2016_forward.py --model crnn|cnn [--src DIR] --json OUT.json INPUT.npy...

Each INPUT.npy is an upstream log-mel input, shape [1,1,96,1366] (or [N,1,96,1366]). The
weights are read from --src (default ../shared/upstream/choi2016) after their sha256 is checked;
the forward pass is `numpy_forward` of tools/convert_choi2016.py (float64), the one its
self-check compares the ONNX graph with. OUT.json: {"model": id, "scores": {INPUT: [50 floats]}}
(the first row of each input).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

from convert_choi2016 import DEFAULT_SRC, MODELS, load_h5, locate_weights, numpy_forward  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--src", default=str(DEFAULT_SRC), help="folder holding the upstream .h5 files")
    ap.add_argument("--json", required=True, help="output JSON file")
    ap.add_argument("inputs", nargs="+", help="upstream .npy log-mel inputs [N,1,96,1366]")
    a = ap.parse_args()
    spec = MODELS[a.model]
    layers = load_h5(locate_weights(spec, a.src))
    scores = {}
    for path in a.inputs:
        x = np.load(path)
        if x.ndim != 4 or x.shape[1:] != (1, 96, 1366):
            raise SystemExit(f"{path}: shape {x.shape}, expected [N,1,96,1366]")
        tags, _ = numpy_forward(a.model, layers, x)
        scores[path] = [float(v) for v in tags[0]]
    with open(a.json, "w") as f:
        json.dump({"model": spec["id"], "scores": scores}, f)


if __name__ == "__main__":
    main()
