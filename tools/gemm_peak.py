#!/usr/bin/env python3
"""The float32 GEMM peak of one core through ONNX Runtime: a single MatMul of two N x N
matrices (default 2048) in a session with one intra-op thread, best of several runs, in
GFLOP/s (2 N^3 floating-point operations per run). The practical ceiling for convolutional
models run by the same library on the same core.

Usage: gemm_peak.py [--n 2048] [--runs 10]   prints {"gemm_n": N, "gemm_gflops": G}."""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    n = args.n
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]), helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    session.run(None, feeds)  # warm-up: allocations and weight packing
    best = float("inf")
    for _ in range(args.runs):
        t = time.perf_counter()
        session.run(None, feeds)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"gemm_n": n, "gemm_gflops": 2 * n**3 / best / 1e9}))


if __name__ == "__main__":
    main()
