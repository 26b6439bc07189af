// x86 AVX-512 direct conv (few input channels): two units of 16 output channels
// (32: a MobileNet / EfficientNet stem in one tile) x 12 pixels = 24 accumulators
// + 2 weight registers + 1 broadcast of 32; per (tap, input channel) 2 weight
// loads and 12 broadcast loads feed 24 FMAs, so the two FMA ports set the pace.
#include "dconv_task.h"
#include "nc8_vec_avx512.h"

namespace sbnn {
namespace {
struct DconvVecAvx512 : Nc8Avx512 {
  static constexpr int kTile = 12;
};
}  // namespace

const DconvVariant kDconvAvx512Variants[2] = {
    {"f32_dconv_3x3s2__avx512", "avx512", 3, 3, 2, 16, 8, &dconv_task<DconvVecAvx512, 3, 3, 2>},
    {"f32_dconv_kxk__avx512", "avx512", 0, 0, 0, 16, 8, &dconv_task<DconvVecAvx512, 0, 0, 0>},
};
}  // namespace sbnn
