// x86 AVX2 depthwise: 8 lanes = one NC8HW8 block per ymm, 4 output pixels per
// step (4 accumulators + 9 weight registers of 16).
#include <immintrin.h>

#include "dwconv_task.h"

namespace sbnn {
namespace {
struct DwVecAvx2 {
  using reg = __m256;
  static constexpr int W = 8;
  static constexpr int kTile = 4;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg keep(reg v, int valid) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
    return _mm256_and_ps(v, _mm256_castsi256_ps(m));
  }
  static reg load_unit(const float* b0, const float*, int64_t pix, int valid) {
    reg v = _mm256_loadu_ps(b0 + pix * 8);
    return valid < W ? keep(v, valid) : v;
  }
  static void store_unit(float* o0, float*, int64_t pix, reg v, int valid) {
    _mm256_storeu_ps(o0 + pix * 8, valid < W ? keep(v, valid) : v);
  }
};
}  // namespace

const DwVariant kDwAvx2Variants[5] = {
    {"f32_dwconv_3x3s1__avx2", "avx2", 3, 3, 1, 8, 8, &dw_task<DwVecAvx2, 3, 3, 1>},
    {"f32_dwconv_3x3s2__avx2", "avx2", 3, 3, 2, 8, 8, &dw_task<DwVecAvx2, 3, 3, 2>},
    {"f32_dwconv_5x5s1__avx2", "avx2", 5, 5, 1, 8, 8, &dw_task<DwVecAvx2, 5, 5, 1>},
    {"f32_dwconv_5x5s2__avx2", "avx2", 5, 5, 2, 8, 8, &dw_task<DwVecAvx2, 5, 5, 2>},
    {"f32_dwconv_kxk__avx2", "avx2", 0, 0, 0, 8, 8, &dw_task<DwVecAvx2, 0, 0, 0>},
};
}  // namespace sbnn
