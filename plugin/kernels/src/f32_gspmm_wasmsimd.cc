// WASM SIMD128 family, plain SIMD128: no FMA, so a multiply-add is f32x4.mul +
// f32x4.add (two roundings). Runs on every engine with SIMD128.
// Ceiling: a MAC is two FP instructions where FMA needs one; on the Ice Lake
// Xeon dev VM a register-only mul+add loop under node --no-liftoff peaks at
// ~34 GFLOP/s, and this kernel reaches ~31. f32_gspmm_wasmrelaxedsimd.cc is the
// same kernel with f32x4.relaxed_madd.
#include "variants.h"
#include "wasm_vec.h"

namespace sbnn {
namespace {
struct WasmMulAdd {
  static v128_t apply(v128_t a, v128_t b, v128_t c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
};
}  // namespace

const Variant kWasmSimdVariants[5] = SBNN_WASM_VARIANTS(VecWasmT<WasmMulAdd>, "wasmsimd");
}  // namespace sbnn
