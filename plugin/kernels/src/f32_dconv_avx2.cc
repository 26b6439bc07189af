// x86 AVX2 direct conv (few input channels): two units of 8 output channels x 6
// pixels = 12 accumulators + 2 weight registers + 1 broadcast of 16.
#include "dconv_task.h"
#include "nc8_vec_avx2.h"

namespace sbnn {
namespace {
struct DconvVecAvx2 : Nc8Avx2 {
  static constexpr int kTile = 6;
};
}  // namespace

const DconvVariant kDconvAvx2Variants[2] = {
    {"f32_dconv_3x3s2__avx2", "avx2", 3, 3, 2, 8, 8, &dconv_task<DconvVecAvx2, 3, 3, 2>},
    {"f32_dconv_kxk__avx2", "avx2", 0, 0, 0, 8, 8, &dconv_task<DconvVecAvx2, 0, 0, 0>},
};
}  // namespace sbnn
