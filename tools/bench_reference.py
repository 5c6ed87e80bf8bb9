#!/usr/bin/env python3
"""Python reference pipeline for `make bench`: librosa load + upstream log-mel + onnxruntime.

Usage: python tools/bench_reference.py --model models/choi2016_crnn.onnx --json OUT.json
           [--jobs N] [--threads T] FILE...

Per file: librosa.load(path, sr=12000, mono=True); centre crop / zero-pad to 349440 samples
(upstream rule); upstream log-mel (tools/reference_mel.py); one onnxruntime session per worker
process (intra_op_num_threads = --threads) on input "melspec" [1,1,96,1366] -> "tags" [1,50].

Files are processed by --jobs worker processes (default: number of cores). Each worker first
runs the whole pipeline once on the first file as a warm-up (librosa/numba JIT, ORT
allocations), not counted. The steady-state clock starts when every worker is warm.

JSON written: files, wall_s (steady state, after warm-up), steady_tracks_per_s,
process_wall_s (from script start, including imports, worker start-up and warm-up),
per_stage_s {load, mel, inference} (summed over files, i.e. CPU-ish seconds across workers),
scores {path: [50 floats]}, plus jobs, threads and model.
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

# one BLAS thread per worker: parallelism comes from --jobs (avoids oversubscription)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_W = {}  # per-worker state


def _init(model, threads, warm_file, ready):
    import librosa  # noqa: F401
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    _W["sess"] = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    _process(warm_file)  # warm-up, not counted
    ready.put(os.getpid())


def _process(path):
    import librosa
    import numpy as np
    from reference_mel import SR, crop_or_pad, log_mel
    t0 = time.perf_counter()
    y, _ = librosa.load(path, sr=SR, mono=True)
    y = crop_or_pad(y)
    t1 = time.perf_counter()
    m = log_mel(y, SR)
    t2 = time.perf_counter()
    x = m[np.newaxis, np.newaxis].astype(np.float32)
    scores = _W["sess"].run(["tags"], {"melspec": x})[0][0]
    t3 = time.perf_counter()
    return path, [float(s) for s in scores], (t1 - t0, t2 - t1, t3 - t2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="ONNX model (input melspec, output tags)")
    ap.add_argument("--json", required=True, help="where to write the results")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--threads", type=int, default=1, help="ORT intra-op threads per worker")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    for f in a.files:
        if not os.path.isfile(f):
            raise SystemExit(f"error: no such file: {f}")
    if not os.path.isfile(a.model):
        raise SystemExit(f"error: no such model: {a.model}")
    jobs = max(1, min(a.jobs, len(a.files)))

    ctx = mp.get_context("fork")
    ready = ctx.Queue()
    with ctx.Pool(jobs, initializer=_init,
                  initargs=(a.model, a.threads, a.files[0], ready)) as pool:
        for _ in range(jobs):
            ready.get()
        t_steady = time.perf_counter()
        results = pool.map(_process, a.files, chunksize=1)
        wall = time.perf_counter() - t_steady
    process_wall = time.perf_counter() - T_START

    stages = {"load": 0.0, "mel": 0.0, "inference": 0.0}
    scores = {}
    for path, s, (tl, tm, ti) in results:
        scores[path] = s
        stages["load"] += tl
        stages["mel"] += tm
        stages["inference"] += ti
    n = len(results)
    out = {
        "files": n,
        "wall_s": round(wall, 4),
        "steady_tracks_per_s": round(n / wall, 4) if wall > 0 else None,
        "process_wall_s": round(process_wall, 4),
        "per_stage_s": {k: round(v, 4) for k, v in stages.items()},
        "jobs": jobs,
        "threads": a.threads,
        "model": a.model,
        "scores": scores,
    }
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"python reference: {n} files in {wall:.2f} s steady ({out['steady_tracks_per_s']} "
          f"tracks/s, {jobs} jobs x {a.threads} ORT threads), process {process_wall:.2f} s; "
          f"stages load {stages['load']:.2f} s, mel {stages['mel']:.2f} s, "
          f"inference {stages['inference']:.2f} s -> {a.json}")


if __name__ == "__main__":
    main()
