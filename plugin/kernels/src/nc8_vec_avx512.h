// AVX-512 registers over MNN's NC8HW8 layout: 16 lanes = two 8-channel blocks
// (b0/o0 and b1/o1; the second null when absent). Shared by the depthwise and the
// few-input-channel direct conv families.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace sbnn {

struct Nc8Avx512 {
  using reg = __m512;
  static constexpr int W = 16;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static __mmask16 lanes(int valid) { return static_cast<__mmask16>((1u << valid) - 1u); }
  // valid: the unit's real channels (< W only in the last unit); other lanes read and written as 0.
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

}  // namespace sbnn
