// AArch64 NEON family (4 lanes, 32 q registers): up to 24 accumulators.
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
};
}  // namespace

const Variant kNeonVariants[5] = {
    {"f32_gspmm_1x16__neon", "neon", 1, 16, &run_task<VecNeon, 1, 1, 4>},
    {"f32_gspmm_2x16__neon", "neon", 2, 16, &run_task<VecNeon, 2, 2, 4>},
    {"f32_gspmm_4x16__neon", "neon", 4, 16, &run_task<VecNeon, 4, 4, 4>},
    {"f32_gspmm_8x12__neon", "neon", 8, 12, &run_task<VecNeon, 8, 8, 3>},
    {"f32_gspmm_16x12__neon", "neon", 16, 12, &run_task<VecNeon, 16, 8, 3>},
};
}  // namespace sbnn
