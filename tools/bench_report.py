#!/usr/bin/env python3
"""Summarises `make bench`: tracks/s of melotag and the Python pipeline, their ratio, and
melotag's time per stage. Usage: bench_report.py BENCH_OUT_DIR"""
import json
import os
import sys

import numpy as np


def load(d, name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


def main():
    d = sys.argv[1]
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
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
