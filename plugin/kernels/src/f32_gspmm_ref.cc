// Scalar reference family: the same task code with a 1-lane "vector", no
// intrinsics, compiled with the baseline flags. Runs everywhere.
#include "gspmm_task.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecScalar {
  using reg = float;
  static constexpr int W = 1;
  static reg load(const float* p) { return *p; }
  static reg set1(float x) { return x; }
  static reg fma(reg a, reg b, reg c) { return a * b + c; }
  static reg min(reg a, reg b) { return b < a ? b : a; }
  static reg max(reg a, reg b) { return a < b ? b : a; }
  static void store(float* p, reg v) { *p = v; }
};
}  // namespace

const Variant kRefVariants[5] = {
    {"f32_gspmm_1x8__scalar", "ref", 1, 8, 1, &run_task<VecScalar, 1, 1, 8>},
    {"f32_gspmm_2x8__scalar", "ref", 2, 8, 1, &run_task<VecScalar, 2, 2, 8>},
    {"f32_gspmm_4x8__scalar", "ref", 4, 8, 1, &run_task<VecScalar, 4, 4, 8>},
    {"f32_gspmm_8x8__scalar", "ref", 8, 8, 1, &run_task<VecScalar, 8, 4, 8>},
    {"f32_gspmm_16x8__scalar", "ref", 16, 8, 1, &run_task<VecScalar, 16, 4, 8>},
};
}  // namespace sbnn
