#!/usr/bin/env python3
"""Summarises `make bench`: tracks/s of melotag and the Python pipeline, their ratio,
melotag's time per stage, and its achieved GFLOP/s per core against the GEMM peak. Usage: bench_report.py BENCH_OUT_DIR [--limit-only]"""
import json
import os
import sys

import numpy as np


def load(d, name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


ONNX_OF = {"musicnn_msd": "musicnn_msd.onnx", "choi2016_crnn": "choi2016_crnn.onnx", "choi2016_cnn": "choi2016_cnn.onnx",
           "musicnn_mtt": "musicnn_mtt.onnx"}


def limit_lines(d):
    """melotag's achieved GFLOP/s per core against the one-thread GEMM peak, per model and mode."""
    # The higher of the GEMM peaks measured before and after the runs.
    peaks = [load(d, f)["gemm_gflops"] for f in ("gemm.json", "gemm-after.json") if os.path.exists(os.path.join(d, f))]
    gemm = max(peaks)
    macs = load(d, "macs.json")
    out = [
        f"arithmetic limit: float32 GEMM through ONNX Runtime, one thread: {gemm:.0f} GFLOP/s per core "
        f"(the higher of {', '.join(f'{p:.0f}' for p in peaks)}, measured before and after the runs)",
        "MACs per model input (from the ONNX graphs): "
        + ", ".join(f"{name.removesuffix('.onnx')} {m / 1e9:.2f} G" for name, m in sorted(macs.items())),
        "",
        "| run | tracks/s | model inputs | GFLOP | cores | GFLOP/s per core | % of the limit | batch | stages (decode / resample / log-mel / inference) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(f for f in os.listdir(d) if f.startswith("limit-") and f.endswith(".json")):
        st = load(d, name)
        flop = 2 * macs[ONNX_OF[st["model"]]] * st["model_inputs"]
        # Cores busy: one per worker thread and intra-op thread, at most the machine's.
        cores = min(st["workers"] * st.get("intra_threads", 1), os.cpu_count() or 1)
        per_core = flop / st["analysis_wall_s"] / cores / 1e9
        stages = st["stage_s"]
        total = sum(stages.values())
        split = " / ".join(f"{100 * stages[k] / total:.0f}%" for k in ("decode", "resample", "mel", "inference"))
        label = name.removeprefix("limit-").removesuffix(".json")
        out.append(
            f"| {label} | {st['files'] / st['analysis_wall_s']:.2f} | {st['model_inputs']} | {flop / 1e9:.0f} | {cores} "
            f"| {per_core:.1f} | **{100 * per_core / gemm:.0f}%** | {st['batch']} | {split} |"
        )
    return out


def main():
    d = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--limit-only":
        print("\n".join(limit_lines(d)))
        return
    mt = load(d, "melotag-stats.json")
    mp = load(d, "melotag-process.json")
    mj = load(d, "melotag.json")
    py = load(d, "python.json")
    py1 = load(d, "python-1.json")
    n = mt["files"]
    durations = [t["duration_s"] for t in mj["tracks"] if t["duration_s"]]
    rust_steady = n / mt["analysis_wall_s"]
    rust_process = n / mp["process_wall_s"]
    py_steady = py["steady_tracks_per_s"]
    py_process = py["files"] / py["process_wall_s"]
    stages = mt["stage_s"]
    total = sum(stages.values())
    # Scores of the two pipelines on the same files (decoders differ by a few ms).
    diffs = []
    for t in mj["tracks"]:
        ref = py["scores"].get(t["path"])
        if ref is not None and t["scores"] is not None:
            diffs.append(np.max(np.abs(np.array(t["scores"]) - np.array(ref))))
    lines = [
        f"tracks: {n}, {min(durations) / 60:.1f}-{max(durations) / 60:.1f} min each, {mt['workers']} workers / processes",
        "",
        "| pipeline | steady tracks/s | whole-process tracks/s |",
        "|---|---|---|",
        f"| melotag | {rust_steady:.2f} | {rust_process:.2f} |",
        f"| Python reference | {py_steady:.2f} | {py_process:.2f} |",
        f"| Python reference, 1 process | {py1['steady_tracks_per_s']:.2f} | {py1['files'] / py1['process_wall_s']:.2f} |",
        f"| **ratio to Python, {py['jobs']} processes** | **{rust_steady / py_steady:.1f}x** | **{rust_process / py_process:.1f}x** |",
        f"| ratio to Python, 1 process | {rust_steady / py1['steady_tracks_per_s']:.1f}x | {rust_process / (py1['files'] / py1['process_wall_s']):.1f}x |",
        "",
        f"inference-bound limit: {mt['workers'] * n / stages['inference']:.2f} tracks/s "
        f"({mt['workers'] * n / stages['inference'] / py_steady:.1f}x the {py['jobs']}-process Python)",
        "melotag time per stage (summed over workers): "
        + ", ".join(f"{k} {v:.2f} s ({100 * v / total:.1f}%)" for k, v in stages.items()),
        f"non-inference share: {100 * (total - stages['inference']) / total:.1f}%",
        f"max |score difference| melotag vs Python per track: median {np.median(diffs):.4f}, max {np.max(diffs):.4f}",
    ]
    lines += [""] + limit_lines(d)
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
