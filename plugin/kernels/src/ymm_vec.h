// The 8-lane float vector ops of a 256-bit ymm register, shared by the AVX2 task
// code (its Vec) and the AVX-512 task code (the lanes tail of G = 8 groups); both
// TUs have -mavx2 -mfma. Internal linkage: each ISA's copy stays its own.
#pragma once
#include <immintrin.h>

namespace sbnn {
namespace {
struct Ymm8 {
  using reg = __m256;
  static constexpr int W = 8;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static constexpr bool kLanesTail = true;   // G = 8: pixel tails of 1-8 pixels (gspmm_lanes)
};
}  // namespace
}  // namespace sbnn
