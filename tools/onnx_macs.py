#!/usr/bin/env python3
"""Counts the multiply-accumulates of one model input (one window or patch) from an ONNX graph:
Conv (output elements x input channels per group x kernel size), MatMul and Gemm (output
elements x inner dimension). Everything else (batch norm, activations, pooling, adds) is
memory-bound and left out, as is usual for MAC counts. Conv filters whose weights are all zero
are padding (tools/convert_musicnn.py pads channels to ONNX Runtime's block size) and are not
counted: the count is the model's own arithmetic, whatever the graph's layout. The batch
dimension is fixed to 1 and the shapes come from ONNX shape inference.

Usage: onnx_macs.py MODEL.onnx [...]   prints one JSON object {model file name: MACs}."""
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import shape_inference


def dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def count_macs(path):
    model = onnx.load(path)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    weights = {t.name: t for t in graph.initializer}
    for inp in graph.input:
        if inp.name in initializers:
            continue
        first = inp.type.tensor_type.shape.dim[0]
        first.Clear()
        first.dim_value = 1
    inferred = shape_inference.infer_shapes(model, strict_mode=True).graph
    shapes = {}
    for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        shapes[v.name] = dims(v)
    for t in inferred.initializer:
        shapes[t.name] = list(t.dims)

    def shape(name):
        s = shapes.get(name)
        if s is None or any(d is None for d in s):
            raise SystemExit(f"{path}: no static shape for {name!r}")
        return s

    macs = 0
    for node in inferred.node:
        if node.op_type == "Conv":
            out = shape(node.output[0])
            w = shape(node.input[1])  # [Cout, Cin/group, k...]
            filters = w[0]
            if node.input[1] in weights:
                values = onnx.numpy_helper.to_array(weights[node.input[1]]).reshape(w[0], -1)
                filters = int(np.count_nonzero(np.any(values != 0, axis=1)))
            macs += int(np.prod(out)) // w[0] * filters * int(np.prod(w[1:]))
        elif node.op_type == "MatMul":
            a = shape(node.input[0])
            out = shape(node.output[0])
            macs += int(np.prod(out)) * a[-1]
        elif node.op_type == "Gemm":
            a = shape(node.input[0])
            trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
            k = a[0] if trans_a else a[1]
            macs += int(np.prod(shape(node.output[0]))) * k
        elif node.op_type in ("ConvTranspose", "GRU", "LSTM", "RNN", "Einsum", "ConvInteger", "MatMulInteger"):
            raise SystemExit(f"{path}: {node.op_type} is not counted by this script")
    return macs


def main():
    print(json.dumps({os.path.basename(p): count_macs(p) for p in sys.argv[1:]}))


if __name__ == "__main__":
    main()
