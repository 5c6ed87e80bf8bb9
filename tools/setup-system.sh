#!/usr/bin/env bash
# Installs the Debian packages melotag needs that are missing (apt-get; sudo when not root).
set -euo pipefail

missing=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || missing+=("$1"); }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd ffmpeg ffmpeg            # test fixtures and benchmark tracks are made with it
need_cmd cmake cmake              # builds the libopus bundled by the opus crate (opusic-sys)
need_cmd python3 python3
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
need_pkg libasound2-dev           # the desktop app's audio output (rodio → cpal → alsa-sys)
need_cmd desktop-file-validate desktop-file-utils  # tests/install.rs checks the desktop entry
need_cmd xmllint libxml2-utils    # tests/install.rs checks the icon is well-formed SVG
# Tests: `script` gives `melotag write` a terminal (bsdutils on Debian 12, util-linux later);
# unshare + nsenter mount the small tmpfs of the full-disk test in a namespace of its own.
need_cmd script bsdutils
need_cmd unshare util-linux
need_cmd nsenter util-linux

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "Installing missing Debian packages: ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
