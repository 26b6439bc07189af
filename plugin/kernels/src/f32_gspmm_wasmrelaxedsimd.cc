// WASM SIMD128 family, relaxed-SIMD variant (compiled with -mrelaxed-simd):
// the multiply-add is f32x4.relaxed_madd, one instruction where SIMD128 needs
// mul + add.
//
// Results are NOT bit-identical across engines. The relaxed-SIMD proposal lets
// relaxed_madd either fuse (one rounding, an FMA: V8 and wasmtime on x86 with
// FMA3, every aarch64 engine) or not (mul then add, two roundings, as the
// SIMD128 variant does): the engine and the CPU decide, not this code. Both
// are float32 sums of the same products in the same order, so both stay
// within the testers' tolerance of the float64 numpy reference
// (tests/kernels/kernel_reference.py: tolerance), which the SIMD128 variant
// (never fused) and this one (fused under wasmtime on x86) are both held to.
//
// The module that holds this file fails validation on engines without relaxed
// SIMD (node 20 without --experimental-wasm-relaxed-simd), so it is built as a
// second .wasm; the ES module (plugin/web/sparsebytenn.mjs) loads it only when
// WebAssembly.validate accepts a tiny relaxed module.
#include "variants.h"
#include "wasm_vec.h"

#if !defined(__wasm_relaxed_simd__)
#error "f32_gspmm_wasmrelaxedsimd.cc needs -mrelaxed-simd"
#endif

namespace sbnn {
namespace {
struct WasmRelaxedMadd {
  static v128_t apply(v128_t a, v128_t b, v128_t c) { return wasm_f32x4_relaxed_madd(a, b, c); }
};
}  // namespace

const Variant kWasmRelaxedSimdVariants[5] =
    SBNN_WASM_VARIANTS(VecWasmT<WasmRelaxedMadd>, "wasmrelaxedsimd");
}  // namespace sbnn
