// x86 AVX-512 family (16 lanes, 32 zmm registers): up to 16 accumulators; the
// weight broadcasts fold into the FMA as {1to16} memory operands.
#include <immintrin.h>

#include "gspmm_task.h"
#include "transpose8x8_avx.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecAvx512 {
  using reg = __m512;
  static constexpr int W = 16;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static constexpr bool kTranspose8 = true;
  static void transpose8(const float* s, int32_t ss, float* d, int32_t ds) { transpose8x8_avx(s, ss, d, ds); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
};
}  // namespace

const Variant kAvx512Variants[5] = {
    {"f32_gspmm_1x64__avx512", "avx512", 1, 64, &run_task<VecAvx512, 1, 1, 4>},
    {"f32_gspmm_2x64__avx512", "avx512", 2, 64, &run_task<VecAvx512, 2, 2, 4>},
    {"f32_gspmm_4x64__avx512", "avx512", 4, 64, &run_task<VecAvx512, 4, 4, 4>},
    {"f32_gspmm_8x32__avx512", "avx512", 8, 32, &run_task<VecAvx512, 8, 8, 2>},
    {"f32_gspmm_16x16__avx512", "avx512", 16, 16, &run_task<VecAvx512, 16, 16, 1>},
};
}  // namespace sbnn
