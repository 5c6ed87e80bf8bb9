#!/usr/bin/env bash
# Measures which normalisation of the embeddings finds similar tracks best (README, "Similar
# tracks and playlists"): the four shared songs as 20 clips (tools/variants.sh: original,
# low-passed, slower, pitched, noisy) analysed in centre mode, and the same clips cut into three
# 10 s segments each (60 clips: different parts of the same song, a harder test) analysed in
# full mode, with every model; then tools/similarity_measure.py on the analysis cache.
# Usage: tools/similarity_measure.sh [OUT_DIR]   (default bench-out/similarity)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out/similarity}
shared=${SHARED:-../shared}/upstream/choi2016/audio
bin=target/release/melotag
rm -rf "$out"
mkdir -p "$out/segments"
tools/variants.sh "$shared" "$out/variants"
for f in "$out"/variants/*.mp3; do
  b=$(basename "$f" .mp3)
  for s in 0 10 20; do
    ffmpeg -hide_banner -loglevel error -y -ss "$s" -t 10 -i "$f" -ac 1 -ar 16000 -c:a pcm_s16le "$out/segments/$b.s$s.wav"
  done
done
for m in musicnn mtt msd+mtt cnn crnn; do
  MELOTAG_DATA_DIR="$out/data" $bin tag "$out/variants" --model "$m" --json /dev/null
  MELOTAG_DATA_DIR="$out/data" $bin tag "$out/segments" --model "$m" --mode full --json /dev/null
done
.venv/bin/python tools/similarity_measure.py "$out/data/cache.sqlite" | tee "$out/report.md"
