// Scalar depthwise reference variant: plain loops with bounds checks, any layout
// (pack 1, 4, 8, 16). Items are rows (n, channel, oy).
#include "dwconv_task.h"

namespace sbnn {
namespace {

inline int64_t at(const DwContext& c, bool out, int n, int ch, int64_t pix) {
  const int64_t block = out ? c.out_block_stride : c.in_block_stride;
  const int64_t batch = out ? c.out_batch_stride : c.in_batch_stride;
  if (c.pack == 1) return n * batch + ch * block + pix;
  return (ch / c.pack) * block + n * batch + pix * c.pack + ch % c.pack;
}

void ref_task(const DwContext& c, int32_t task) {
  const sbnn_dwconv_weights* w = c.w;
  const int C = w->channels, kh = w->kernel_h, kw = w->kernel_w;
  const TaskRows task_rows(c.items, c.out_h, c.num_tasks, task);
  for (int64_t k = 0; k < task_rows.count(); ++k) {
    int64_t row_unit;
    int oy;
    task_rows.at(k, &row_unit, &oy);
    const int ch = static_cast<int>(row_unit % C);
    const int n = static_cast<int>(row_unit / C);
    const float* wt = w->weights + static_cast<int64_t>(ch) * kh * kw;
    for (int ox = 0; ox < c.out_w; ++ox) {
      float acc = w->bias[ch];
      for (int ky = 0; ky < kh; ++ky) {
        const int iy = oy * c.stride_h - c.pad_top + ky * c.dilation_h;
        if (iy < 0 || iy >= c.in_h) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int ix = ox * c.stride_w - c.pad_left + kx * c.dilation_w;
          if (ix < 0 || ix >= c.in_w) continue;
          acc += c.in[at(c, false, n, ch, static_cast<int64_t>(iy) * c.in_w + ix)] * wt[ky * kw + kx];
        }
      }
      acc = acc < w->output_min ? w->output_min : (acc > w->output_max ? w->output_max : acc);
      c.out[at(c, true, n, ch, static_cast<int64_t>(oy) * c.out_w + ox)] = acc;
    }
  }
}

}  // namespace

const DwVariant kDwRefVariants[1] = {
    {"f32_dwconv_kxk__ref", "ref", 0, 0, 0, 1, 0, &ref_task},
};
}  // namespace sbnn
