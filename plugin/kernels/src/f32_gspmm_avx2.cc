// x86 AVX2+FMA family (8 lanes, 16 ymm registers). G >= 4 runs as 4-row chunks
// x 3 vectors (24-pixel tile): 12 accumulators + 3 tile vectors + 1 broadcast =
// all 16 registers, 12 FMAs per 7 loads (4 x 2 did 8 per 6 and reached ~48
// GFLOP/s on 14x14 512->512 where 4 x 3 reaches ~75, MNN's dense AVX2 tile).
#include <immintrin.h>

#include "gspmm_task.h"
#include "transpose8x8_avx.h"
#include "variants.h"
#include "ymm_vec.h"

namespace sbnn {
namespace {
struct VecAvx2 : Ymm8 {
  static constexpr int kBlockP = 8;
  static int32_t unpack_block(const float* src, int32_t np, float* rows, int32_t T) {
    int32_t p = 0;
    for (; p + 8 <= np; p += 8) transpose8x8_avx(src + p * 8, 8, rows + p, T);
    unpack_pixels<8>(src, p, np, rows, T);
    return np;
  }
  static void pack_block(const float* rows, int32_t T, float* dst, int32_t np) {
    int32_t p = 0;
    for (; p + 8 <= np; p += 8) transpose8x8_avx(rows + p, T, dst + p * 8, 8);
    pack_pixels<8>(rows, T, dst, p, np);
  }
  // 4 accumulator rows x 8 pixels -> 4 lanes of np pixels of an NC8HW8 block.
  static void store_nc(reg (&col)[4], float* dst, int32_t np) {
    const __m256 t0 = _mm256_unpacklo_ps(col[0], col[1]), t1 = _mm256_unpackhi_ps(col[0], col[1]);
    const __m256 t2 = _mm256_unpacklo_ps(col[2], col[3]), t3 = _mm256_unpackhi_ps(col[2], col[3]);
    // px[j]: pixels j (low half) and j + 4 (high half), 4 channels each.
    const __m256 px[4] = {_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
                          _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2))};
    if (np >= 8) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        _mm_storeu_ps(dst + j * 8, _mm256_castps256_ps128(px[j]));
        _mm_storeu_ps(dst + (j + 4) * 8, _mm256_extractf128_ps(px[j], 1));
      }
      return;
    }
    for (int32_t p = 0; p < np; ++p)
      _mm_storeu_ps(dst + p * 8, p < 4 ? _mm256_castps256_ps128(px[p]) : _mm256_extractf128_ps(px[p - 4], 1));
  }
};
// The direct stores run_task relies on for speed (a lost overload would only slow it down).
static_assert(DirectRows<VecAvx2, 4>::value, "AVX2 writes 4-row chunks straight into NC8HW8");
}  // namespace

const Variant kAvx2Variants[5] = {
    {"f32_gspmm_1x32__avx2", "avx2", 1, 32, 8, &run_task<VecAvx2, 1, 1, 4>},
    {"f32_gspmm_2x32__avx2", "avx2", 2, 32, 8, &run_task<VecAvx2, 2, 2, 4>},
    {"f32_gspmm_4x24__avx2", "avx2", 4, 24, 8, &run_task<VecAvx2, 4, 4, 3>},
    {"f32_gspmm_8x24__avx2", "avx2", 8, 24, 8, &run_task<VecAvx2, 8, 4, 3>, 8},
    {"f32_gspmm_16x24__avx2", "avx2", 16, 24, 8, &run_task<VecAvx2, 16, 4, 3>},
};
}  // namespace sbnn
