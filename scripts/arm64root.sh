#!/usr/bin/env bash
# The arm64 root folder: an extracted Debian bookworm arm64 userland with Python 3.11
# plus a venv holding the aarch64 MNN==3.6.1, numpy, pytest and hypothesis wheels.
# Everything aarch64 (NEON kernel tests, the bridge inside aarch64 MNN) runs in it
# under qemu-aarch64:  qemu-aarch64 -L "$R" "$V/bin/python" ...
# No chroot, binfmt or maintainer scripts are needed to *use* it.
#
#   scripts/arm64root.sh ensure   create what is missing (idempotent), print the root folder
#   scripts/arm64root.sh check    run `import MNN, numpy` under qemu (exit 0 when it works)
#   scripts/arm64root.sh path     print the root folder      (R)
#   scripts/arm64root.sh venv     print the arm64 venv folder (V)
#
# Packages come from the host's own apt sources (its bookworm entries, reused for
# arm64); the wheels come from PyPI through the host's pip (--platform/--target).
# Environment: SPARSEBYTENN_HOME (default ~/.cache/sparsebytenn) holds both folders;
# SBNN_HOST_PYTHON is the host python whose pip downloads the wheels.
set -euo pipefail
HOME_DIR="${SPARSEBYTENN_HOME:-$HOME/.cache/sparsebytenn}"
R="$HOME_DIR/arm64root"
V="$HOME_DIR/arm64venv"
STAMP="$HOME_DIR/arm64root.ok"
DEBS="python3.11,libpython3.11-dev,libstdc++6,libgomp1"
WHEELS="MNN==3.6.1 numpy==2.2.6 pytest hypothesis"
RECIPE="2 $DEBS $WHEELS"   # the stamp: change it and the venv is rebuilt
say() { printf '\033[1m[arm64root]\033[0m %s\n' "$*" >&2; }

host_python() {
  if [ -n "${SBNN_HOST_PYTHON:-}" ]; then echo "$SBNN_HOST_PYTHON"; return; fi
  local repo_py
  repo_py="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python"
  if [ -x "$repo_py" ]; then echo "$repo_py"; else echo python3; fi
}

# The host's bookworm apt entries (deb822 stanzas or one-line), minus any
# architecture restriction, so that mmdebstrap can fetch arm64 from the same place.
host_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; ORS="\n\n"} /(^|\n)Suites:[^\n]*bookworm/ && /(^|\n)Types:[^\n]*deb([ \t]|$|\n)/' "$f" \
      | grep -v -i '^Architectures:' || true
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1=="deb" && $0 !~ /\[[^]]*arch=/ { for(i=2;i<=NF;i++) if ($i ~ /^bookworm/) { print; break } }' "$f"
  done
}

is_ready() {
  [ "$(cat "$STAMP" 2>/dev/null)" = "$RECIPE" ] && [ -x "$R/usr/bin/python3.11" ] \
    && [ -d "$V/lib/python3.11/site-packages/MNN" ]
}

ensure() {
  if is_ready; then echo "$R"; return; fi
  mkdir -p "$HOME_DIR"
  exec 9>"$HOME_DIR/arm64root.lock"
  flock 9                                   # one builder at a time
  if is_ready; then echo "$R"; return; fi   # built meanwhile
  local missing=()
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
  if [ ${#missing[@]} -gt 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them with:  sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
  if [ ! -x "$R/usr/bin/python3.11" ]; then
    local src
    src="$(host_sources)"
    if [ -z "$src" ]; then
      say "no Debian bookworm entry in this host's apt sources (/etc/apt/sources.list{,.d/})"
      say "the arm64 root folder needs a Debian 12 host (or add a bookworm entry there)"
      exit 1
    fi
    say "extracting a Debian arm64 userland into $R (about 20 s)"
    rm -rf "$R.tmp"
    printf '%s\n' "$src" | mmdebstrap --quiet --variant=extract --arch=arm64 \
        --include="$DEBS" bookworm "$R.tmp" - >&2
    rm -rf "$R"
    mv "$R.tmp" "$R"
  fi
  say "creating the arm64 venv with $WHEELS"
  rm -rf "$V.tmp"
  # The venv's interpreter links point into $R (absolute), so the folder can be renamed.
  qemu-aarch64 -L "$R" "$R/usr/bin/python3.11" -m venv --without-pip "$V.tmp"
  sed -i "s#$V.tmp#$V#g" "$V.tmp/pyvenv.cfg"
  # pip runs on the host; it only downloads and unpacks aarch64 wheels.
  "$(host_python)" -m pip install -q --disable-pip-version-check --target "$V.tmp/lib/python3.11/site-packages" \
     --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
     --only-binary=:all: $WHEELS >&2 2> >(grep -v 'is ignored: it is neither' >&2)
  rm -rf "$V"
  mv "$V.tmp" "$V"
  echo "$RECIPE" > "$STAMP"
  echo "$R"
}

check() {
  is_ready || { say "not set up: run scripts/arm64root.sh ensure"; exit 1; }
  qemu-aarch64 -L "$R" "$V/bin/python" -c "import MNN, numpy; print('arm64 MNN', MNN.version(), 'numpy', numpy.__version__)" \
    | grep -v 'device supports'
}

case "${1:-ensure}" in
  ensure) ensure ;;
  check) check ;;
  path) echo "$R" ;;
  venv) echo "$V" ;;
  *) echo "usage: $0 ensure|check|path|venv" >&2; exit 2 ;;
esac
