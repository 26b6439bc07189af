// AArch64 NEON family (4 lanes, 32 q registers): up to 24 accumulators.
// MNN's fp32 ARM layout NC4HW4 moves in and out with de-/interleaving
// ld4/st4 (a 4x4 transpose per 4 pixels).
#include <arm_neon.h>

#include "gspmm_task.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecNeon {
  using reg = float32x4_t;
  static constexpr int W = 4;
  static reg load(const float* p) { return vld1q_f32(p); }
  static reg set1(float x) { return vdupq_n_f32(x); }
  static reg fma(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }
  static reg min(reg a, reg b) { return vminq_f32(a, b); }
  static reg max(reg a, reg b) { return vmaxq_f32(a, b); }
  static void store(float* p, reg v) { vst1q_f32(p, v); }
  static constexpr bool kLaneFma = true;
  template <int L>
  static reg fma_lane(reg acc, reg x, reg w4) { return vfmaq_laneq_f32(acc, x, w4, L); }
  static constexpr int kBlockP = 4;
  static int32_t unpack_block(const float* src, int32_t np, float* rows, int32_t T) {
    int32_t p = 0;
    for (; p + 4 <= np; p += 4) {
      const float32x4x4_t v = vld4q_f32(src + p * 4);
      vst1q_f32(rows + p, v.val[0]);
      vst1q_f32(rows + T + p, v.val[1]);
      vst1q_f32(rows + 2 * T + p, v.val[2]);
      vst1q_f32(rows + 3 * T + p, v.val[3]);
    }
    unpack_pixels<4>(src, p, np, rows, T);
    return np;
  }
  static void pack_block(const float* rows, int32_t T, float* dst, int32_t np) {
    int32_t p = 0;
    for (; p + 4 <= np; p += 4) {
      float32x4x4_t v;
      v.val[0] = vld1q_f32(rows + p);
      v.val[1] = vld1q_f32(rows + T + p);
      v.val[2] = vld1q_f32(rows + 2 * T + p);
      v.val[3] = vld1q_f32(rows + 3 * T + p);
      vst4q_f32(dst + p * 4, v);
    }
    pack_pixels<4>(rows, T, dst, p, np);
  }
};
}  // namespace

const Variant kNeonVariants[5] = {
    {"f32_gspmm_1x16__neon", "neon", 1, 16, 4, &run_task<VecNeon, 1, 1, 4>},
    {"f32_gspmm_2x16__neon", "neon", 2, 16, 4, &run_task<VecNeon, 2, 2, 4>},
    {"f32_gspmm_4x16__neon", "neon", 4, 16, 4, &run_task<VecNeon, 4, 4, 4>},
    {"f32_gspmm_8x12__neon", "neon", 8, 12, 4, &run_task<VecNeon, 8, 8, 3>},
    {"f32_gspmm_16x12__neon", "neon", 16, 12, 4, &run_task<VecNeon, 16, 8, 3>},
};
}  // namespace sbnn
