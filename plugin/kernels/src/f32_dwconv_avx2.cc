// x86 AVX2 depthwise: 8 lanes = one NC8HW8 block per ymm, 4 output pixels per
// step (4 accumulators + 9 weight registers of 16).
#include "dwconv_task.h"
#include "nc8_vec_avx2.h"

namespace sbnn {
namespace {
struct DwVecAvx2 : Nc8Avx2 {
  static constexpr int kTile = 4;
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
