#!/usr/bin/env bash
# The measurements behind the worker layout and batch sizes melotag uses (README, "Inference
# speed"): whole-track analysis of the benchmark's tracks (run `make bench` first, or give any
# folder of real-length mp3s as $1; SWEEP_TRACKS of them, default 8) for musicnn and the CRNN,
# with each layout in turn, in one run; then the table of tracks/s and % of the GEMM limit
# (tools/bench_report.py). The scores are the same whatever the layout (tests/tuning.rs).
# BEFORE_MODELS=DIR adds runs on the models in DIR (a models folder as an earlier converter
# wrote it, manifests included), with and without ONNX Runtime's arena: the "before" rows of
# README's table of changes.
set -euo pipefail
if [[ -n ${BEFORE_MODELS:-} ]]; then
  # Resolved before the cd below; a wrong folder would silently fall back to models/.
  BEFORE_MODELS=$(realpath "$BEFORE_MODELS")
  for m in musicnn_msd choi2016_crnn; do
    [[ -f $BEFORE_MODELS/$m.toml && -f $BEFORE_MODELS/$m.onnx ]] || { echo "error: $BEFORE_MODELS has no $m.toml and $m.onnx" >&2; exit 1; }
  done
fi
cd "$(dirname "$0")/.."

tracks=${1:-bench-out/tracks}
out=bench-out/sweep
bin=target/release/melotag
py=.venv/bin/python
files=("$tracks"/*.mp3)
files=("${files[@]:0:${SWEEP_TRACKS:-8}}")
rm -rf "$out" && mkdir -p "$out"

env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/gemm_peak.py >$out/gemm.json
$py tools/onnx_macs.py models/*.onnx >$out/macs.json
$bin tag --model crnn "${files[0]}" --no-cache --json /dev/null >/dev/null  # warm-up: runtime and page cache
cat "${files[@]}" >/dev/null

# Each layout runs SWEEP_REPEATS times (default 3), interleaved with nothing else; the fastest
# run counts, since this shared machine's speed drifts within a run.
run() { # label model args...
  local label=$1 model=$2
  shift 2
  echo "== $label: melotag tag --model $model --mode full $*"
  local runs=()
  for r in $(seq 1 "${SWEEP_REPEATS:-3}"); do
    runs+=("$out/run-$label-$r.json")
    $bin tag --model "$model" --mode full "${files[@]}" --no-cache --json /dev/null --stats "${runs[-1]}" "$@"
  done
  $py - "$out/limit-$label.json" "${runs[@]}" <<'PY'
import json, shutil, sys
fastest = min(sys.argv[2:], key=lambda f: json.load(open(f))["analysis_wall_s"])
shutil.copy(fastest, sys.argv[1])
PY
}
for model in musicnn crnn; do
  run "$model-2w-default" $model --threads 2
  for b in 1 2 4 16; do
    run "$model-2w-batch$b" $model --threads 2 --batch $b
  done
  run "$model-1w-2t-batch1" $model --threads 1 --intra-threads 2 --batch 1
  run "$model-2w-2t-nospin-batch1" $model --threads 2 --intra-threads 2 --batch 1 --no-spin
  run "$model-1w-1t-batch1" $model --threads 1 --batch 1
  run "$model-2w-no-arena" $model --threads 2 --no-arena
  if [[ -n ${BEFORE_MODELS:-} ]]; then
    MELOTAG_MODELS_DIR=$BEFORE_MODELS run "$model-before-2w-no-arena" $model --threads 2 --no-arena
    MELOTAG_MODELS_DIR=$BEFORE_MODELS run "$model-before-2w" $model --threads 2
  fi
done
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/gemm_peak.py >$out/gemm-after.json  # the higher one counts
$py tools/bench_report.py $out --limit-only | tee $out/report.md
