#!/usr/bin/env bash
# Installs melotag under a prefix, or removes exactly what an install put there. Used by
# `make install` / `make uninstall` and by tests/install.rs.
#
#   tools/install.sh install PREFIX BINARY
#   tools/install.sh uninstall PREFIX
#
# Installs PREFIX/bin/melotag, PREFIX/lib/melotag/libonnxruntime.so, every model manifest and
# its ONNX file in PREFIX/share/melotag/models, the desktop entry in PREFIX/share/applications
# and the icon in PREFIX/share/icons/hicolor/scalable/apps.
#
# PREFIX/share/melotag/installed-files.txt lists every file installed (itself included), then
# every folder the installs created (ending in /). Uninstall removes those files, then those
# folders if they are empty, and nothing else: with PREFIX=~/.local, the user's analysis cache
# and undo journal live in the same PREFIX/share/melotag folder and stay.
set -euo pipefail

die() {
  echo "install.sh: $*" >&2
  exit 1
}
usage() { die "usage: $0 install PREFIX BINARY | $0 uninstall PREFIX"; }

action=${1:-}
[[ -n ${2:-} ]] || usage
# Absolute, without resolving symlinks: the paths recorded are the ones the user named.
prefix=$(realpath -ms -- "$2")
shown_prefix=$prefix
[[ $prefix == / ]] && prefix=  # paths below are "$prefix/…"
list_rel=share/melotag/installed-files.txt
list=$prefix/$list_rel
tree=$(cd "$(dirname "$0")/.." && pwd)

# Refreshes the desktop's menu and icon caches where the system keeps them (never creates one:
# a cache we made would be left behind by uninstall).
refresh_caches() {
  local apps=$prefix/share/applications icons=$prefix/share/icons/hicolor
  if [[ -f $apps/mimeinfo.cache ]] && command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$apps" || true
  fi
  if [[ -f $icons/icon-theme.cache ]] && command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -t -f "$icons" || true
  fi
}

# Sets `recorded` to the paths an earlier install listed, files then folders (ending in /).
# Refuses files outside the prefix, so a damaged list cannot make uninstall remove other files;
# folders (only ever removed when empty) may also be the prefix and the parents install made.
recorded=()
read_recorded() {
  recorded=()
  [[ -f $list ]] || return 0
  local line inside
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    inside=false
    if [[ $line == "$prefix"/* ]] || [[ $line == */ && "$prefix/" == "$line"* ]]; then inside=true; fi
    if [[ $inside == false || $line == *"/../"* || $line == *"/./"* || $line == */.. || $line == */. ]]; then
      die "$list names $line, outside $shown_prefix; not touching it"
    fi
    recorded+=("$line")
  done <"$list"
}

uninstall() {
  if [[ ! -f $list ]]; then
    echo "melotag is not installed in $shown_prefix (no $list_rel)"
    return 0
  fi
  read_recorded
  local files=0 path folders=()
  for path in "${recorded[@]}"; do
    if [[ $path == */ ]]; then
      folders+=("$path")
    elif [[ -e $path || -L $path ]]; then
      rm -f -- "$path"
      files=$((files + 1))
    fi
  done
  # Deepest folders first (a child sorts after its parent); one holding anything else (the
  # user's cache) stays.
  if ((${#folders[@]} > 0)); then
    mapfile -t folders < <(printf '%s\n' "${folders[@]}" | sort -r)
  fi
  for path in "${folders[@]}"; do
    if [[ -d $path ]]; then
      rmdir --ignore-fail-on-non-empty -- "$path"
    fi
  done
  refresh_caches
  echo "removed melotag from $shown_prefix ($files files)"
}

install_all() {
  local binary=${1:-}
  [[ -n $binary ]] || usage
  [[ -x $binary ]] || die "no melotag binary at $binary; run \`make build\`"
  local runtime=$tree/.cache/onnxruntime/libonnxruntime.so
  [[ -f $runtime ]] || die "no ONNX Runtime at $runtime; run \`make setup\`"

  # Source and destination of every file, with its mode.
  local sources=() targets=() modes=()
  add() { sources+=("$1") targets+=("$prefix/$2") modes+=("$3"); }
  add "$binary" bin/melotag 755
  add "$runtime" lib/melotag/libonnxruntime.so 755
  local manifest onnx found=0
  for manifest in "$tree"/models/*.toml; do
    [[ -f $manifest ]] || continue
    onnx=$(sed -n 's/^onnx *= *"\([^"]*\)".*/\1/p' "$manifest")
    add "$manifest" "share/melotag/models/$(basename "$manifest")" 644
    if [[ -z $onnx ]]; then
      # A tagger made of other models (`parts = [...]`) has no file of its own.
      grep -q '^parts *=' "$manifest" || die "$manifest names no onnx file"
      continue
    fi
    [[ -f $tree/models/$onnx ]] || die "model $tree/models/$onnx is missing; run \`make setup\`"
    add "$tree/models/$onnx" "share/melotag/models/$onnx" 644
    found=$((found + 1))
  done
  ((found > 0)) || die "no model manifests in $tree/models"
  add "$tree/assets/melotag.svg" share/icons/hicolor/scalable/apps/melotag.svg 644

  # The desktop runs Exec without the user's login PATH at times: name the installed binary
  # by its full path when that needs no quoting, else rely on PATH.
  local exec=melotag
  desktop=$(mktemp)
  trap 'rm -f "$desktop"' EXIT
  [[ $prefix =~ ^[A-Za-z0-9/._+-]+$ ]] && exec=$prefix/bin/melotag
  sed "s|^Exec=melotag |Exec=$exec |" "$tree/assets/melotag.desktop" >"$desktop"
  add "$desktop" share/applications/melotag.desktop 644

  # Folders this install creates (checked before creating anything), plus those earlier
  # installs created: all are ours to remove when empty.
  local previous=() created=() target dir
  read_recorded
  previous=("${recorded[@]}")
  for target in "${targets[@]}" "$list"; do
    dir=$(dirname "$target")
    while [[ ! -e $dir ]]; do
      created+=("$dir/")
      dir=$(dirname "$dir")
    done
  done

  local i
  for i in "${!sources[@]}"; do
    # install unlinks the old file first, so a running melotag keeps its copy.
    install -D -m "${modes[$i]}" -- "${sources[$i]}" "${targets[$i]}"
  done
  # Debug line tables make up most of a release binary; an installed copy goes without.
  if command -v strip >/dev/null; then
    strip --strip-debug -- "$prefix/bin/melotag"
  fi

  # Files an earlier install put there that this one does not (a model since removed).
  local path
  for path in "${previous[@]}"; do
    if [[ $path != */ && $path != "$list" ]] && ! printf '%s\n' "${targets[@]}" | grep -qxF -- "$path"; then
      rm -f -- "$path"
    fi
  done

  mkdir -p -- "$(dirname "$list")"
  {
    echo "# Installed by melotag's \`make install\`; \`make uninstall PREFIX=$prefix\` removes exactly these"
    echo "# files, then these folders if empty (never anything else, such as cache.sqlite)."
    printf '%s\n' "${targets[@]}" "$list"
    for dir in "${created[@]}" "${previous[@]}"; do
      if [[ $dir == */ ]]; then printf '%s\n' "$dir"; fi
    done | sort -u
  } >"$list.tmp"
  mv -f -- "$list.tmp" "$list"
  refresh_caches

  echo "installed melotag in $shown_prefix ($((${#targets[@]} + 1)) files, listed in $list_rel)"
  case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not in PATH: from a terminal, run $prefix/bin/melotag" ;;
  esac
}

case $action in
  install) install_all "${3:-}" ;;
  uninstall) uninstall ;;
  *) usage ;;
esac
