// x86 AVX2+FMA family (8 lanes, 16 ymm registers): at most 12 accumulators +
// tile vectors + one broadcast, so G >= 4 runs as 4-row chunks x 3 vectors.
#include <immintrin.h>

#include "gspmm_task.h"
#include "transpose8x8_avx.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecAvx2 {
  using reg = __m256;
  static constexpr int W = 8;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static constexpr bool kTranspose8 = true;
  static void transpose8(const float* s, int32_t ss, float* d, int32_t ds) { transpose8x8_avx(s, ss, d, ds); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
};
}  // namespace

const Variant kAvx2Variants[5] = {
    {"f32_gspmm_1x32__avx2", "avx2", 1, 32, &run_task<VecAvx2, 1, 1, 4>},
    {"f32_gspmm_2x32__avx2", "avx2", 2, 32, &run_task<VecAvx2, 2, 2, 4>},
    {"f32_gspmm_4x24__avx2", "avx2", 4, 24, &run_task<VecAvx2, 4, 4, 3>},
    {"f32_gspmm_8x24__avx2", "avx2", 8, 24, &run_task<VecAvx2, 8, 4, 3>},
    {"f32_gspmm_16x24__avx2", "avx2", 16, 24, &run_task<VecAvx2, 16, 4, 3>},
};
}  // namespace sbnn
