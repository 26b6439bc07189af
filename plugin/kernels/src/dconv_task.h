// Direct conv internals (few input channels): the packed object, the per-run
// context, the variant table entry, and the SIMD task template the avx2 / avx512
// files instantiate.
//
// SIMD scheme (NC8HW8 only): a "unit" is one vector of L output channels (L = 8:
// one block; L = 16: blocks 2u and 2u+1) and a tile is two units x T output
// pixels of one row, 2T accumulators. Every (tap, input channel) loads the two
// units' weight vectors once and broadcasts one input value per pixel, so the
// few input channels are read in place, never gathered into im2col rows. Zero
// padding adds nothing: rows outside the input are skipped, and only the
// columns whose taps leave the input row (x < x_begin, x >= x_end) take the
// bounds-checked one-pixel path.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "dense_run.h"
#include "sparsebytenn/dconv.h"

struct sbnn_dconv_weights {
  int32_t out_channels, in_channels, kernel_h, kernel_w;
  int32_t lanes;              // L: output channels per unit (1 for ref)
  int32_t units;              // ceil(O / L)
  int32_t chunks;             // ceil(units / 2): tiles of two units
  float output_min, output_max;
  const char* isa;
  float* weights;             // SIMD [chunk][ky][kx][ci][2][L], zero padded; ref OIHW
  float* bias;                // SIMD [2 * chunks][L]; ref [O]
  void* storage;
};

namespace sbnn {

struct DconvContext {
  const sbnn_dconv_weights* w;
  int32_t batch, in_h, in_w, out_h, out_w;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t x_begin, x_end;     // output columns whose kw taps all lie inside the input row
  int32_t pack;
  const float* in;
  int64_t in_block_stride, in_batch_stride;
  float* out;
  int64_t out_block_stride, out_batch_stride;
  int64_t items;              // SIMD rows (n, chunk, oy); ref rows (n, o, oy); split by TaskRows
  int32_t num_tasks;
};

using DconvTaskFn = void (*)(const DconvContext& c, int32_t task);

struct DconvVariant {
  const char* name;
  const char* isa;
  int32_t kernel_h, kernel_w, stride;  // 0: any
  int32_t lanes;
  int32_t pack;                        // 0: any layout (ref), else NC{pack}HW{pack} only
  DconvTaskFn run_task;
};

extern const DconvVariant kDconvRefVariants[1];
#if defined(SBNN_HAVE_AVX2)
extern const DconvVariant kDconvAvx2Variants[2];
#endif
#if defined(SBNN_HAVE_AVX512)
extern const DconvVariant kDconvAvx512Variants[2];
#endif

// V: W, reg, load/bcast/fma/min/max/set1 and store_unit(o0, o1, pix, reg, valid)
// (nc8_vec_*.h); V::kTile pixels per full tile.
template <class V, int KH, int KW, int S>
void dconv_task(const DconvContext& c, int32_t task) {
  using reg = typename V::reg;
  constexpr int L = V::W;
  const sbnn_dconv_weights* w = c.w;
  const int kh = KH ? KH : w->kernel_h, kw = KW ? KW : w->kernel_w;
  const int sh = S ? S : c.stride_h, sw = S ? S : c.stride_w;
  const int dh = c.dilation_h, dw = c.dilation_w;
  const int I = w->in_channels;
  const int blocks_out = (w->out_channels + 7) / 8;
  const reg lo = V::set1(w->output_min), hi = V::set1(w->output_max);
  const float* chan[SBNN_DCONV_MAX_IN_CHANNELS];  // channel ci of image n, at pixel 0
  const TaskRows task_rows(c.items, c.out_h, c.num_tasks, task);
  for (int64_t k = 0; k < task_rows.count(); ++k) {
    int64_t nc;
    int oy;
    task_rows.at(k, &nc, &oy);
    const int n = static_cast<int>(nc / w->chunks), ch = static_cast<int>(nc % w->chunks);
    for (int ci = 0; ci < I; ++ci)
      chan[ci] = c.in + (ci / 8) * c.in_block_stride + n * c.in_batch_stride + ci % 8;
    int ky0 = 0, ky1 = kh;
    while (ky0 < kh && oy * sh - c.pad_top + ky0 * dh < 0) ++ky0;
    while (ky1 > ky0 && oy * sh - c.pad_top + (ky1 - 1) * dh >= c.in_h) --ky1;
    const float* wp = w->weights + static_cast<int64_t>(ch) * kh * kw * I * 2 * L;
    const reg bias0 = V::load(w->bias + (2 * ch) * L), bias1 = V::load(w->bias + (2 * ch + 1) * L);
    float* o[2][2];  // [unit][block]: the output blocks of the tile's two units (null: absent)
    int valid[2];
    for (int k = 0; k < 2; ++k) {
      const int u = 2 * ch + k, blk = u * (L / 8);
      valid[k] = std::max(0, std::min(L, w->out_channels - u * L));
      float* base = c.out + blk * c.out_block_stride + n * c.out_batch_stride;
      o[k][0] = blk < blocks_out ? base : nullptr;
      o[k][1] = (L == 16 && blk + 1 < blocks_out) ? base + c.out_block_stride : nullptr;
    }
    const int64_t out_row = static_cast<int64_t>(oy) * c.out_w;
    // T pixels from ox; Checked: taps may leave the input row (one pixel only).
    auto tile = [&](int ox, auto tconst, auto checked) {
      constexpr int T = decltype(tconst)::value;
      constexpr bool kChecked = decltype(checked)::value;
      reg a0[T], a1[T];
      for (int j = 0; j < T; ++j) a0[j] = bias0, a1[j] = bias1;
      for (int ky = ky0; ky < ky1; ++ky) {
        const int64_t row = static_cast<int64_t>(oy * sh - c.pad_top + ky * dh) * c.in_w;
        for (int kx = 0; kx < kw; ++kx) {
          const int ix = ox * sw - c.pad_left + kx * dw;
          if (kChecked && (ix < 0 || ix >= c.in_w)) continue;
          const float* wt = wp + static_cast<int64_t>(ky * kw + kx) * I * 2 * L;
          const int64_t at = (row + ix) * 8;
          for (int ci = 0; ci < I; ++ci) {
            const reg w0 = V::load(wt + ci * 2 * L), w1 = V::load(wt + ci * 2 * L + L);
            const float* p = chan[ci] + at;
#pragma GCC unroll 16
            for (int j = 0; j < T; ++j) {
              const reg x = V::bcast(p + static_cast<int64_t>(j) * sw * 8);
              a0[j] = V::fma(x, w0, a0[j]);
              a1[j] = V::fma(x, w1, a1[j]);
            }
          }
        }
      }
      for (int j = 0; j < T; ++j) {
        const int64_t pix = out_row + ox + j;
        if (o[0][0]) V::store_unit(o[0][0], o[0][1], pix, V::min(V::max(a0[j], lo), hi), valid[0]);
        if (o[1][0]) V::store_unit(o[1][0], o[1][1], pix, V::min(V::max(a1[j], lo), hi), valid[1]);
      }
    };
    using One = std::integral_constant<int, 1>;
    using Checked = std::true_type;
    using Inside = std::false_type;
    int ox = 0;
    for (; ox < c.x_begin; ++ox) tile(ox, One(), Checked());
    for (; ox + V::kTile <= c.x_end; ox += V::kTile) tile(ox, std::integral_constant<int, V::kTile>(), Inside());
    auto rest = [&](auto tconst) {
      tile(ox, tconst, Inside());
      ox += decltype(tconst)::value;
    };
    remainder_block<V::kTile - 1>(c.x_end - ox, rest);
    for (; ox < c.out_w; ++ox) tile(ox, One(), Checked());
  }
}

}  // namespace sbnn
