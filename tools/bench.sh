#!/usr/bin/env bash
# `make bench`: melotag against the Python reference pipeline (librosa + onnxruntime on the same
# ONNX) on the same real-length tracks and the same cores, in one run; then similarity queries
# on 100,000 synthetic embeddings (examples/similar_bench.rs), then the stage timings of
# decoding and the log-mel front end (examples/timing.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

out=bench-out
tracks=$out/tracks
shared=${SHARED:-../shared}/upstream/choi2016/audio
bin=target/release/melotag
py=.venv/bin/python
mkdir -p "$tracks"

# 24 tracks of 3 to 6 minutes (4.5 on average), made by concatenating the four ~31 s sample mp3s.
srcs=("$shared"/bensound-*.mp3)
minutes=(3 3.5 4 4.5 5 5.5 6 4.5 3 3.5 4 4.5 5 5.5 6 4.5 3 3.5 4 4.5 5 5.5 6 4.5)
for i in "${!minutes[@]}"; do
  f=$tracks/track$i.mp3
  [[ -s $f ]] && continue
  list=$(mktemp)
  for _ in $(seq 1 13); do for s in "${srcs[@]:i%4}" "${srcs[@]:0:i%4}"; do echo "file '$(realpath "$s")'" >>"$list"; done; done
  secs=$(awk "BEGIN{print ${minutes[$i]}*60}")
  ffmpeg -hide_banner -loglevel fatal -y -f concat -safe 0 -i "$list" -t "$secs" -ar 44100 -ac 2 -c:a libmp3lame -b:a 192k "$f"
  rm -f "$list"
done
files=("$tracks"/*.mp3)
cores=$(nproc)

now() { date +%s.%N; }
# Warm the page cache so both pipelines read the same files from memory.
cat "${files[@]}" >/dev/null

echo "== melotag (${#files[@]} tracks, $cores workers)"
$bin tag --model crnn "${files[0]}" --no-cache --json /dev/null >/dev/null  # warm-up: runtime and page cache
t0=$(now)
$bin tag --model crnn "${files[@]}" --no-cache --threads "$cores" --json $out/melotag.json --stats $out/melotag-stats.json
t1=$(now)
echo "{\"process_wall_s\": $(awk "BEGIN{print $t1-$t0}")}" >$out/melotag-process.json

echo "== Python reference (librosa + onnxruntime, $cores processes)"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/bench_reference.py \
  --model models/choi2016_crnn.onnx --jobs "$cores" --threads 1 --json $out/python.json "${files[@]}"
echo "== Python reference, one process"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/bench_reference.py \
  --model models/choi2016_crnn.onnx --jobs 1 --threads 1 --json $out/python-1.json "${files[@]}"

echo "== arithmetic limit: float32 GEMM peak through ONNX Runtime (one thread), MACs per model input"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/gemm_peak.py >$out/gemm.json
$py tools/onnx_macs.py models/*.onnx >$out/macs.json
cat $out/gemm.json $out/macs.json
for model in musicnn crnn; do
  for mode in full center; do
    echo "== melotag tag --model $model --mode $mode (${#files[@]} tracks, $cores workers)"
    $bin tag --model $model --mode $mode "${files[@]}" --no-cache --threads "$cores" --json /dev/null \
      --stats $out/limit-$model-$mode.json
  done
done
# The GEMM peak again after the runs: this shared machine's speed drifts, and the report takes
# the higher of the two, so a slow moment while measuring the limit cannot flatter the ratios.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py tools/gemm_peak.py >$out/gemm-after.json
cat $out/gemm-after.json

$py tools/bench_report.py $out

echo "== similarity: queries on 100,000 tracks (examples/similar_bench.rs)"
${CARGO:-cargo} run --release --quiet --example similar_bench -- $out

echo "== decode, resample and log-mel stage timings (examples/timing.rs)"
${CARGO:-cargo} run --release --quiet --example timing
