// x86 AVX-512 depthwise: 16 lanes = two NC8HW8 blocks per zmm (one 256-bit load
// and insert per input pixel, done once per ring row), 8 output pixels per step
// (8 accumulators + 9 weight registers of 32). MNN 3.6.1's x86 wheel has no
// AVX-512 code, so this is where an Intel core with two 512-bit FMA ports gains.
#include "dwconv_task.h"
#include "nc8_vec_avx512.h"

namespace sbnn {
namespace {
struct DwVecAvx512 : Nc8Avx512 {
  static constexpr int kTile = 8;
};
}  // namespace

const DwVariant kDwAvx512Variants[5] = {
    {"f32_dwconv_3x3s1__avx512", "avx512", 3, 3, 1, 16, 8, &dw_task<DwVecAvx512, 3, 3, 1>},
    {"f32_dwconv_3x3s2__avx512", "avx512", 3, 3, 2, 16, 8, &dw_task<DwVecAvx512, 3, 3, 2>},
    {"f32_dwconv_5x5s1__avx512", "avx512", 5, 5, 1, 16, 8, &dw_task<DwVecAvx512, 5, 5, 1>},
    {"f32_dwconv_5x5s2__avx512", "avx512", 5, 5, 2, 16, 8, &dw_task<DwVecAvx512, 5, 5, 2>},
    {"f32_dwconv_kxk__avx512", "avx512", 0, 0, 0, 16, 8, &dw_task<DwVecAvx512, 0, 0, 0>},
};
}  // namespace sbnn
