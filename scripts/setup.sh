#!/usr/bin/env bash
# One set-up for both README commands: Debian toolchains, the arm64 root folder,
# the virtual environment and the package itself. Idempotent: every step checks
# first and does nothing when its result is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- 1. Debian packages -------------------------------------------------------
# qemu-user: runs the aarch64 NEON tests and the aarch64 MNN wheel.
# clang-14 + lld + wasi-libc + wasm32 libc++: the WASM SIMD128 kernels.
# libxnnpack-dev + libpthreadpool-dev: XNNPACK, a peer in the kernel benchmark.
# dataset-fashion-mnist: real images for `sparsebytenn eval`.
# darknet: ImageNet class names and real photos for the demo.
# mmdebstrap: extracts the arm64 root folder.
APT_PKGS=(g++-aarch64-linux-gnu qemu-user clang-14 lld-14 wasi-libc libc++-dev-wasm32
          libclang-rt-dev-wasm32 libxnnpack-dev libpthreadpool-dev dataset-fashion-mnist
          darknet mmdebstrap)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them with:  sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
fi

# --- 2. Python environment ----------------------------------------------------
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  [ -x .venv/bin/python ] || { say "creating .venv"; python3 -m venv .venv; }
  PY="$ROOT/.venv/bin/python"
fi
# Build requirements are installed into the venv so that editable rebuilds work
# without build isolation (and without re-downloading them every time).
stamp_deps=".venv-deps.stamp"
deps_hash=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp_deps" 2>/dev/null)" != "$deps_hash" ]; then
  say "installing Python dependencies"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja
  "$PY" -m pip install -q torch==2.13.0
  "$PY" -m pip install -q -e ".[test,zoo,bench]" --no-build-isolation
  echo "$deps_hash" > "$stamp_deps"
fi
# Rebuild the C++ part when its sources changed (editable installs redirect the
# Python files, but the compiled modules live in the build folder).
src_hash=$(find plugin python/bindings cmake CMakeLists.txt pyproject.toml -type f \
             -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat .build.stamp 2>/dev/null)" != "$src_hash" ]; then
  say "building the C++ plugin and bindings"
  "$PY" -m pip install -q -e . --no-build-isolation --no-deps
  echo "$src_hash" > .build.stamp
fi

# --- 3. arm64 root folder: the aarch64 MNN wheel under qemu ---------------------
scripts/arm64root.sh ensure >/dev/null

say "ready: $PY"
