#!/usr/bin/env bash
# One set-up for both README commands: Debian toolchains, the virtual environment,
# the package itself and the arm64 root folder. Idempotent: every step checks first
# and does nothing when its result is already there, so a warm run takes a second.
#
# Environment: VIRTUAL_ENV (an active venv is used instead of .venv),
# SPARSEBYTENN_HOME (caches: models, arm64 root folder; default ~/.cache/sparsebytenn).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# One set-up at a time (test.sh and demo.sh may start together).
mkdir -p build
exec 8>build/.setup.lock
flock 8

# --- 1. Debian packages -------------------------------------------------------
# Needed to build and install the package at all:
ESSENTIAL=(python3 python3-venv python3-dev g++ make)
# Needed by parts of the test suite, the demo and the benchmarks:
#   g++-aarch64-linux-gnu + qemu-user: the NEON kernels and the aarch64 MNN wheel
#   clang-19 + lld-19 + wasi-libc + wasm32 libc++/compiler-rt: the WASM SIMD128 and
#     relaxed-SIMD kernels (clang-19 emits the standard relaxed-SIMD opcodes)
#   libxnnpack-dev + libpthreadpool-dev: XNNPACK, a peer in the kernel benchmark
#   dataset-fashion-mnist: real labelled images (accuracy checks)
#   darknet: ImageNet class names and real photos
#   mmdebstrap: extracts the arm64 root folder
#   nodejs: times the WASM kernels in the kernel benchmark (node --no-liftoff), runs
#     the ES module's tests; npm installs package.json's packages (step 4)
#   chromium: headless browser for the ES module's tests and the browser benchmark
#   llvm-19: llvm-mca's Neoverse N1 model for the modelled arm64 kernel rows (LLVM 14's
#     ARM big-core entries fall back to a Cortex-A57 model)
TOOLCHAINS=(g++-aarch64-linux-gnu qemu-user clang-19 lld-19 wasi-libc libc++-19-dev-wasm32
            libclang-rt-19-dev-wasm32 libxnnpack-dev libpthreadpool-dev dataset-fashion-mnist
            darknet mmdebstrap nodejs chromium llvm-19)
missing_debs() {  # the given packages that are not installed, in one dpkg-query call
  local installed
  # dpkg-query exits 1 when a package is unknown: that must not end the script
  # (set -e + pipefail would silently report nothing missing).
  installed=" $( { dpkg-query -W -f='${db:Status-Abbrev}${Package} \n' "$@" 2>/dev/null || true; } \
                | awk '$1 ~ /^ii/ {printf "%s ", $2}') "
  for p in "$@"; do [[ "$installed" == *" $p "* ]] || echo "$p"; done
}
mapfile -t missing < <(missing_debs "${ESSENTIAL[@]}" "${TOOLCHAINS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    mapfile -t missing_essential < <(missing_debs "${ESSENTIAL[@]}")
    if [ ${#missing_essential[@]} -gt 0 ]; then
      say "cannot continue without: ${missing_essential[*]}"
      exit 1
    fi
    say "continuing; tests that need the missing toolchains will be skipped (they fail under CI=true)"
  fi
fi

# --- 2. Python environment ----------------------------------------------------
if [ -n "${VIRTUAL_ENV:-}" ]; then
  ENV_DIR="$VIRTUAL_ENV"
else
  ENV_DIR="$ROOT/.venv"
  [ -x "$ENV_DIR/bin/python" ] || { say "creating .venv"; python3 -m venv "$ENV_DIR"; }
fi
PY="$ENV_DIR/bin/python"
# Stamps live inside the environment: a new environment starts from scratch.
DEPS_STAMP="$ENV_DIR/.sparsebytenn-deps.stamp"
BUILD_STAMP="$ENV_DIR/.sparsebytenn-build.stamp"
pip_quiet() {  # pip, minus this machine's warnings about absent local index folders
  local rc=0
  "$PY" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2) || rc=$?
  return $rc
}

# Sources of the compiled part plus the *list* of Python modules: a new module or
# package needs a fresh editable install (scikit-build-core's redirect mode maps files).
build_hash() {
  { find plugin python/bindings cmake CMakeLists.txt pyproject.toml -type f \
      -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    find python converter -name '*.py' -not -path '*/__pycache__/*' | sort
  } | sha256sum | cut -c1-16
}

deps_hash=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$DEPS_STAMP" 2>/dev/null)" != "$deps_hash" ]; then
  say "installing Python dependencies into $ENV_DIR"
  # Build requirements go into the environment: editable rebuilds run without
  # build isolation (fast, offline, no re-download of pybind11/scikit-build-core).
  mapfile -t build_reqs < <("$PY" -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['build-system']['requires']))")
  pip_quiet "${build_reqs[@]}" cmake ninja
  src_hash=$(build_hash)   # before the build: edits made during it trigger the next one
  pip_quiet -e ".[test,zoo,bench]" --no-build-isolation
  echo "$deps_hash" > "$DEPS_STAMP"
  echo "$src_hash" > "$BUILD_STAMP"
fi
# Rebuild the C++ part when its sources changed (editable installs redirect the
# Python files, but the compiled modules live in the build folder).
src_hash=$(build_hash)
if [ "$(cat "$BUILD_STAMP" 2>/dev/null)" != "$src_hash" ]; then
  say "building the C++ plugin and bindings"
  pip_quiet -e . --no-build-isolation --no-deps
  echo "$src_hash" > "$BUILD_STAMP"
fi

# --- 3. arm64 root folder: the aarch64 MNN wheel under qemu ---------------------
if command -v mmdebstrap >/dev/null && command -v qemu-aarch64 >/dev/null; then
  SBNN_HOST_PYTHON="$PY" scripts/arm64root.sh ensure >/dev/null
else
  say "skipping the arm64 root folder (needs mmdebstrap and qemu-user)"
fi

say "ready: $PY"
