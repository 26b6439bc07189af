// x86 AVX-512 family (16 lanes, 32 zmm registers): up to 24 accumulators (G=8:
// 8 rows x 3 vectors = 48-pixel tile, measured 5-15 % faster than 8 x 2).
// NC8HW8 blocks move in and out with 16x8 register transposes; for G=8 the
// output block is transposed straight from the accumulators.
#include <immintrin.h>

#include "gspmm_task.h"
#include "transpose16x8_avx512.h"
#include "variants.h"
#include "ymm_vec.h"

namespace sbnn {
namespace {
struct VecAvx512 {
  using reg = __m512;
  static constexpr int W = 16;
  // G = 8 pixel tails (1-8 pixels: a 7x7 image's 49th, a 14x14 one's last 4, a
  // classifier's only one) run with the group's 8 rows in a ymm's lanes; as a zmm
  // microkernel they were 8 latency-bound FMA chains (a 7x7 layer +34 %).
  using Half = Ymm8;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static constexpr int kBlockP = 8;
  static int32_t unpack_block(const float* src, int32_t np, float* rows, int32_t T) {
    for (int32_t p = 0; p < np; p += 16) nc8_to_rows16(src + p * 8, np - p, rows + p, T);
    return (np + 15) & ~15;
  }
  static void pack_block(const float* rows, int32_t T, float* dst, int32_t np) {
    for (int32_t p = 0; p < np; p += 16) rows16_to_nc8(rows + p, T, dst + p * 8, np - p);
  }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static void store_nc(reg (&col)[8], float* dst, int32_t np) { regs16x8_to_nc8(col, dst, np); }
};
// The direct stores run_task relies on for speed (a lost overload would only slow it down).
static_assert(DirectRows<VecAvx512, 8>::value, "AVX-512 writes 8-row groups straight into NC8HW8");
}  // namespace

const Variant kAvx512Variants[5] = {
    {"f32_gspmm_1x64__avx512", "avx512", 1, 64, 16, &run_task<VecAvx512, 1, 1, 4>},
    {"f32_gspmm_2x64__avx512", "avx512", 2, 64, 16, &run_task<VecAvx512, 2, 2, 4>},
    {"f32_gspmm_4x64__avx512", "avx512", 4, 64, 16, &run_task<VecAvx512, 4, 4, 4>},
    {"f32_gspmm_8x48__avx512", "avx512", 8, 48, 16, &run_task<VecAvx512, 8, 8, 3>, 8},
    {"f32_gspmm_16x16__avx512", "avx512", 16, 16, 16, &run_task<VecAvx512, 16, 16, 1>},
};
}  // namespace sbnn
