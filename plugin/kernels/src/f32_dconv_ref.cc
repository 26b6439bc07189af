// Scalar direct conv reference variant: plain loops with bounds checks, any
// layout (pack 1, 4, 8, 16). Items are rows (n, output channel, oy).
#include "dconv_task.h"

namespace sbnn {
namespace {

inline int64_t at(int32_t pack, int64_t block, int64_t batch, int n, int ch, int64_t pix) {
  if (pack == 1) return n * batch + ch * block + pix;
  return (ch / pack) * block + n * batch + pix * pack + ch % pack;
}

void ref_task(const DconvContext& c, int32_t task) {
  const sbnn_dconv_weights* w = c.w;
  const int O = w->out_channels, I = w->in_channels, kh = w->kernel_h, kw = w->kernel_w;
  const TaskRows task_rows(c.items, c.out_h, c.num_tasks, task);
  for (int64_t k = 0; k < task_rows.count(); ++k) {
    int64_t row_unit;
    int oy;
    task_rows.at(k, &row_unit, &oy);
    const int o = static_cast<int>(row_unit % O);
    const int n = static_cast<int>(row_unit / O);
    for (int ox = 0; ox < c.out_w; ++ox) {
      float acc = w->bias[o];
      for (int ci = 0; ci < I; ++ci) {
        const float* wt = w->weights + (static_cast<int64_t>(o) * I + ci) * kh * kw;
        for (int ky = 0; ky < kh; ++ky) {
          const int iy = oy * c.stride_h - c.pad_top + ky * c.dilation_h;
          if (iy < 0 || iy >= c.in_h) continue;
          for (int kx = 0; kx < kw; ++kx) {
            const int ix = ox * c.stride_w - c.pad_left + kx * c.dilation_w;
            if (ix < 0 || ix >= c.in_w) continue;
            const int64_t pix = static_cast<int64_t>(iy) * c.in_w + ix;
            acc += c.in[at(c.pack, c.in_block_stride, c.in_batch_stride, n, ci, pix)] * wt[ky * kw + kx];
          }
        }
      }
      acc = acc < w->output_min ? w->output_min : (acc > w->output_max ? w->output_max : acc);
      const int64_t pix = static_cast<int64_t>(oy) * c.out_w + ox;
      c.out[at(c.pack, c.out_block_stride, c.out_batch_stride, n, o, pix)] = acc;
    }
  }
}

}  // namespace

const DconvVariant kDconvRefVariants[1] = {
    {"f32_dconv_kxk__ref", "ref", 0, 0, 0, 1, 0, &ref_task},
};
}  // namespace sbnn
