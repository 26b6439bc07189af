// WASM SIMD128 family (4 lanes; no FMA without relaxed-simd, so mul + add).
// Engines map it onto 16 xmm registers: at most 8 accumulators.
#include <wasm_simd128.h>

#include "gspmm_task.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecWasm {
  using reg = v128_t;
  static constexpr int W = 4;
  static reg load(const float* p) { return wasm_v128_load(p); }
  static reg set1(float x) { return wasm_f32x4_splat(x); }
  static reg fma(reg a, reg b, reg c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
  static reg min(reg a, reg b) { return wasm_f32x4_pmin(a, b); }
  static reg max(reg a, reg b) { return wasm_f32x4_pmax(a, b); }
  static void store(float* p, reg v) { wasm_v128_store(p, v); }
};
}  // namespace

const Variant kWasmSimdVariants[5] = {
    {"f32_gspmm_1x16__wasmsimd", "wasmsimd", 1, 16, &run_task<VecWasm, 1, 1, 4>},
    {"f32_gspmm_2x16__wasmsimd", "wasmsimd", 2, 16, &run_task<VecWasm, 2, 2, 4>},
    {"f32_gspmm_4x8__wasmsimd", "wasmsimd", 4, 8, &run_task<VecWasm, 4, 4, 2>},
    {"f32_gspmm_8x8__wasmsimd", "wasmsimd", 8, 8, &run_task<VecWasm, 8, 4, 2>},
    {"f32_gspmm_16x8__wasmsimd", "wasmsimd", 16, 8, &run_task<VecWasm, 16, 4, 2>},
};
}  // namespace sbnn
