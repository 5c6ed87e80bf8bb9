#!/usr/bin/env bash
# Makes the evaluation set README's measurements use: every mp3 of SRC_DIR as it is, and four
# variants of each (low-passed at 4 kHz; slowed by 8 %; pitched up 6 % at the same tempo; mixed
# with pink noise and re-encoded at 64 kbit/s mono), as OUT_DIR/<song>.<variant>.mp3 plus a
# labels.csv (variant → its song's labels, when SRC_DIR has one: `song.mp3,tags`).
# Usage: tools/variants.sh ../shared/upstream/choi2016/audio OUT_DIR
set -euo pipefail
src=${1:?source folder}
out=${2:?output folder}
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
for f in "$src"/*.mp3; do
  song=$(basename "$f" .mp3)
  ff -i "$f" -c:a libmp3lame -b:a 192k "$out/$song.original.mp3"
  ff -i "$f" -af "lowpass=f=4000" -c:a libmp3lame -b:a 192k "$out/$song.lowpass.mp3"
  ff -i "$f" -af "atempo=0.92" -c:a libmp3lame -b:a 192k "$out/$song.slower.mp3"
  ff -i "$f" -af "asetrate=44100*1.06,aresample=44100,atempo=1/1.06" -c:a libmp3lame -b:a 192k "$out/$song.pitched.mp3"
  ff -i "$f" -f lavfi -i "anoisesrc=color=pink:amplitude=0.08:sample_rate=44100" \
     -filter_complex "[0:a][1:a]amix=inputs=2:duration=first:normalize=0" -ac 1 -c:a libmp3lame -b:a 64k "$out/$song.noisy.mp3"
done
echo "$(ls "$out"/*.mp3 | wc -l) clips in $out"
