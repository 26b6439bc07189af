#!/usr/bin/env bash
# Build the kernels and the MNN bridge with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option SBNN_SANITIZE=ON) into build/sanitize and run the C++-side checks:
#   1. gsparse_tester: every kernel variant x shapes x layouts x threads vs a naive loop;
#   2. a bridge smoke test: Python with libasan preloaded loads the sanitized bridge
#      (SPARSEBYTENN_MNN_BRIDGE) and runs a group-sparse zoo model through MNN with it.
# Any ASan/UBSan report fails the script (non-zero exit). Extra cmake args: $SBNN_SANITIZE_CMAKE_ARGS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SBNN_SANITIZE_BUILD:-$ROOT/build/sanitize}"
PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}"; PY="${PY:-$ROOT/.venv/bin/python}"
JOBS="${SBNN_JOBS:-2}"

GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
if [[ -f "$BUILD/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GEN[1]:-Unix Makefiles}" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"  # generator changed
fi
echo "== configure $BUILD (SBNN_SANITIZE=ON)"
cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSBNN_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS="" \
  -DSBNN_BUILD_TESTERS=ON -DSBNN_BUILD_PYTHON=OFF ${SBNN_SANITIZE_CMAKE_ARGS:-} >"$BUILD.configure.log" 2>&1 \
  || { cat "$BUILD.configure.log"; exit 1; }
TARGETS=(gsparse_tester)
BRIDGE=""
if grep -q "^SBNN_BUILD_MNN_BRIDGE:BOOL=ON" "$BUILD/CMakeCache.txt" && [[ "$(uname -s)" == Linux ]]; then
  TARGETS+=(sparsebytenn_mnn)
fi
echo "== build ${TARGETS[*]}"
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

# halt on the first report; leaks count as failures in the tester (it owns every allocation)
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"

echo "== kernels: gsparse_tester under ASan+UBSan"
"$BUILD/plugin/kernels/tests/gsparse_tester"

if [[ " ${TARGETS[*]} " == *" sparsebytenn_mnn "* ]]; then
  BRIDGE="$BUILD/plugin/mnn_bridge/libsparsebytenn_mnn.so"
  echo "== bridge: smoke test with libasan preloaded into Python"
  # Python and MNN are not instrumented: their own leaks are not ours (detect_leaks=0);
  # every access the bridge makes is still checked.
  ASAN_OPTIONS="halt_on_error=1:exitcode=86:detect_leaks=0:verify_asan_link_order=0" \
  LD_PRELOAD="$(${CXX:-g++} -print-file-name=libasan.so) $(${CXX:-g++} -print-file-name=libubsan.so)" \
  SPARSEBYTENN_MNN_BRIDGE="$BRIDGE" \
    "$PY" "$ROOT/tests/hardening/bridge_asan_smoke.py"
else
  echo "== bridge: not built on this platform (SBNN_BUILD_MNN_BRIDGE off or not Linux)"
fi
echo "sanitize: OK"
