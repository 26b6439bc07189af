// SIMD128 traits shared by the two WASM microkernel files (internal linkage:
// each file gets its own copy, compiled with its own target features).
//   f32_gspmm_wasmsimd.cc         -msimd128                  mul + add
//   f32_gspmm_wasmrelaxedsimd.cc  -msimd128 -mrelaxed-simd   f32x4.relaxed_madd
// Engines map the traits onto 16 xmm registers (V8 keeps one as scratch): 4 rows
// x 2 vectors = 8 accumulators + 2 tile vectors + 1 broadcast; 4 x 3 measured no
// faster, 8 x 1 and 8 x 2 (spills) 20-35 % slower. NC4HW4 input blocks come in
// with 4x4 shuffle transposes; every 4-row chunk is one NC4HW4 output block,
// transposed in registers and stored straight from the accumulators.
#pragma once
#include <wasm_simd128.h>

#include "gspmm_task.h"

namespace sbnn {
namespace {
// Madd::apply(a, b, c) = a * b + c: WasmMulAdd (SIMD128, two roundings) or
// WasmRelaxedMadd (f32x4.relaxed_madd, fused or not, f32_gspmm_wasmrelaxedsimd.cc).
template <class Madd>
struct VecWasmT {
  using reg = v128_t;
  static constexpr int W = 4;
  static reg load(const float* p) { return wasm_v128_load(p); }
  static reg set1(float x) { return wasm_f32x4_splat(x); }
  static reg fma(reg a, reg b, reg c) { return Madd::apply(a, b, c); }
  static reg min(reg a, reg b) { return wasm_f32x4_pmin(a, b); }
  static reg max(reg a, reg b) { return wasm_f32x4_pmax(a, b); }
  static void store(float* p, reg v) { wasm_v128_store(p, v); }
  // r[i] lane j <-> r[j] lane i.
  static void transpose4(reg& r0, reg& r1, reg& r2, reg& r3) {
    const reg t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
    const reg t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
    r0 = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    r1 = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    r2 = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    r3 = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
  }
  // The R = 4 accumulator rows of one vector of pixels -> np (<= 4) pixels x 4
  // channels of one NC4HW4 block: no [G][T] round trip through memory.
  static void store_nc(reg (&col)[4], float* dst, int32_t np) {
    transpose4(col[0], col[1], col[2], col[3]);
    store(dst, col[0]);
    if (np > 1) store(dst + 4, col[1]);
    if (np > 2) store(dst + 8, col[2]);
    if (np > 3) store(dst + 12, col[3]);
  }
  static constexpr int kBlockP = 4;
  static int32_t unpack_block(const float* src, int32_t np, float* rows, int32_t T) {
    int32_t p = 0;
    for (; p + 4 <= np; p += 4) {
      reg a = load(src + p * 4), b = load(src + p * 4 + 4), c = load(src + p * 4 + 8), d = load(src + p * 4 + 12);
      transpose4(a, b, c, d);
      store(rows + p, a);
      store(rows + T + p, b);
      store(rows + 2 * T + p, c);
      store(rows + 3 * T + p, d);
    }
    unpack_pixels<4>(src, p, np, rows, T);
    return np;
  }
  static void pack_block(const float* rows, int32_t T, float* dst, int32_t np) {
    int32_t p = 0;
    for (; p + 4 <= np; p += 4) {
      reg a = load(rows + p), b = load(rows + T + p), c = load(rows + 2 * T + p), d = load(rows + 3 * T + p);
      transpose4(a, b, c, d);
      store(dst + p * 4, a);
      store(dst + p * 4 + 4, b);
      store(dst + p * 4 + 8, c);
      store(dst + p * 4 + 12, d);
    }
    pack_pixels<4>(rows, T, dst, p, np);
  }
};
}  // namespace

// The variant table of one multiply-add; tiles and row chunks are the same for both.
#define SBNN_WASM_VARIANTS(VEC, ISA)                                                  \
  {                                                                                   \
    {"f32_gspmm_1x16__" ISA, ISA, 1, 16, 4, &run_task<VEC, 1, 1, 4>},                 \
        {"f32_gspmm_2x16__" ISA, ISA, 2, 16, 4, &run_task<VEC, 2, 2, 4>},             \
        {"f32_gspmm_4x8__" ISA, ISA, 4, 8, 4, &run_task<VEC, 4, 4, 2>},               \
        {"f32_gspmm_8x8__" ISA, ISA, 8, 8, 4, &run_task<VEC, 8, 4, 2>},               \
        {"f32_gspmm_16x8__" ISA, ISA, 16, 8, 4, &run_task<VEC, 16, 4, 2>},            \
  }
}  // namespace sbnn
