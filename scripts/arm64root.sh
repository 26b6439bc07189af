#!/usr/bin/env bash
# The arm64 root folder: an extracted Debian bookworm arm64 userland with Python 3.11
# plus a venv holding the aarch64 MNN==3.6.1, numpy and pytest wheels. Everything
# aarch64 (NEON kernel tests, the bridge inside aarch64 MNN) runs in it under
# qemu-aarch64. No chroot, binfmt or root needed to *use* it.
#   scripts/arm64root.sh ensure   -> create if missing, print the folder
#   scripts/arm64root.sh path     -> print the folder
set -euo pipefail
HOME_DIR="${SPARSEBYTENN_HOME:-$HOME/.cache/sparsebytenn}"
R="$HOME_DIR/arm64root"
V="$HOME_DIR/arm64venv"
STAMP="$HOME_DIR/arm64root.ok"
WHEELS="MNN==3.6.1 numpy==2.2.6 pytest hypothesis"
say() { printf '\033[1m[arm64root]\033[0m %s\n' "$*" >&2; }

ensure() {
  if [ "$(cat "$STAMP" 2>/dev/null)" = "$WHEELS" ] && [ -x "$R/usr/bin/python3.11" ]; then
    echo "$R"; return
  fi
  command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing: apt-get install mmdebstrap"; exit 1; }
  command -v qemu-aarch64 >/dev/null || { say "qemu-aarch64 is missing: apt-get install qemu-user"; exit 1; }
  mkdir -p "$HOME_DIR"
  if [ ! -x "$R/usr/bin/python3.11" ]; then
    say "extracting a Debian arm64 userland into $R (about 20 s)"
    rm -rf "$R.tmp"
    # The host's own apt sources (deb822 or one-line) are reused for arm64.
    src=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$src" ] || src=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null || true)
    printf '%s\n' "$src" | mmdebstrap --quiet --variant=extract --arch=arm64 \
        --include=python3.11,libpython3.11-dev,libstdc++6,libgomp1 bookworm "$R.tmp" - >&2
    mv "$R.tmp" "$R"
  fi
  say "creating the arm64 venv and installing $WHEELS"
  rm -rf "$V"
  qemu-aarch64 -L "$R" "$R/usr/bin/python3.11" -m venv --without-pip "$V"
  # pip runs on the host; it only downloads and unpacks aarch64 wheels.
  python3 -m pip install -q --target "$V/lib/python3.11/site-packages" \
     --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
     --only-binary=:all: $WHEELS >&2
  echo "$WHEELS" > "$STAMP"
  echo "$R"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  path) echo "$R" ;;
  venv) echo "$V" ;;
  *) echo "usage: $0 ensure|path|venv" >&2; exit 2 ;;
esac
