// x86 AVX-512 depthwise: 16 lanes = two NC8HW8 blocks per zmm (one 256-bit load
// and insert per input pixel, done once per ring row), 8 output pixels per step
// (8 accumulators + 9 weight registers of 32). MNN 3.6.1's x86 wheel has no
// AVX-512 code, so this is where an Intel core with two 512-bit FMA ports gains.
#include <immintrin.h>

#include "dwconv_task.h"

namespace sbnn {
namespace {
struct DwVecAvx512 {
  using reg = __m512;
  static constexpr int W = 16;
  static constexpr int kTile = 8;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static __mmask16 lanes(int valid) { return static_cast<__mmask16>((1u << valid) - 1u); }
  static reg load_unit(const float* b0, const float* b1, int64_t pix, int valid) {
    reg v = _mm512_castps256_ps512(_mm256_loadu_ps(b0 + pix * 8));
    if (b1 != nullptr) v = _mm512_insertf32x8(v, _mm256_loadu_ps(b1 + pix * 8), 1);
    else v = _mm512_insertf32x8(v, _mm256_setzero_ps(), 1);
    if (valid < W) v = _mm512_maskz_mov_ps(lanes(valid), v);
    return v;
  }
  static void store_unit(float* o0, float* o1, int64_t pix, reg v, int valid) {
    if (valid < W) v = _mm512_maskz_mov_ps(lanes(valid), v);
    _mm256_storeu_ps(o0 + pix * 8, _mm512_castps512_ps256(v));
    if (o1 != nullptr) _mm256_storeu_ps(o1 + pix * 8, _mm512_extractf32x8_ps(v, 1));
  }
};
}  // namespace

const DwVariant kDwAvx512Variants[5] = {
    {"f32_dwconv_3x3s1__avx512", "avx512", 3, 3, 1, 16, 8, &dw_task<DwVecAvx512, 3, 3, 1>},
    {"f32_dwconv_3x3s2__avx512", "avx512", 3, 3, 2, 16, 8, &dw_task<DwVecAvx512, 3, 3, 2>},
    {"f32_dwconv_5x5s1__avx512", "avx512", 5, 5, 1, 16, 8, &dw_task<DwVecAvx512, 5, 5, 1>},
    {"f32_dwconv_5x5s2__avx512", "avx512", 5, 5, 2, 16, 8, &dw_task<DwVecAvx512, 5, 5, 2>},
    {"f32_dwconv_kxk__avx512", "avx512", 0, 0, 0, 16, 8, &dw_task<DwVecAvx512, 0, 0, 0>},
};
}  // namespace sbnn
