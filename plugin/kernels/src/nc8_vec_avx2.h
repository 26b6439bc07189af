// AVX2 registers over MNN's NC8HW8 layout: 8 lanes = one 8-channel block per ymm
// (the second block pointer of the unit I/O is unused). Shared by the depthwise
// and the few-input-channel direct conv families.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace sbnn {

struct Nc8Avx2 {
  using reg = __m256;
  static constexpr int W = 8;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg keep(reg v, int valid) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
    return _mm256_and_ps(v, _mm256_castsi256_ps(m));
  }
  // valid: the unit's real channels (< W only in the last unit); other lanes read and written as 0.
  static reg load_unit(const float* b0, const float*, int64_t pix, int valid) {
    reg v = _mm256_loadu_ps(b0 + pix * 8);
    return valid < W ? keep(v, valid) : v;
  }
  static void store_unit(float* o0, float*, int64_t pix, reg v, int valid) {
    _mm256_storeu_ps(o0 + pix * 8, valid < W ? keep(v, valid) : v);
  }
};

}  // namespace sbnn
