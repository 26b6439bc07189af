// Depthwise conv internals: the packed object, the per-run context, the variant
// table entry, and the SIMD task template the avx2 / avx512 files instantiate.
//
// SIMD scheme (NC8HW8 only): a "unit" is one vector of L channels (L = 8: one
// block; L = 16: blocks 2u and 2u+1). A task walks its rows (n, unit, oy); the
// input rows an output row needs are first copied into a small ring of padded
// rows [x][L] (zeros for the pad columns, all-zero row for pad rows), so each
// input row is converted once per unit, stays in L1 while kh output rows read
// it, and the hot loop has no bounds checks: out[ox] = bias + sum w[ky][kx] *
// ring[ky][ox*s + kx*d].
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "dense_run.h"
#include "sparsebytenn/dwconv.h"

namespace sbnn {
struct DwVariant;
}

struct sbnn_dwconv_weights {
  int32_t channels, kernel_h, kernel_w;
  int32_t lanes;              // L: channels per unit (1 for ref)
  int32_t units;              // ceil(C / L)
  float output_min, output_max;
  const char* isa;
  float* weights;             // [unit][tap][L], zero padded lanes
  float* bias;                // [unit][L]
  void* storage;
};

namespace sbnn {

struct DwContext {
  const sbnn_dwconv_weights* w;
  int32_t batch, in_h, in_w, out_h, out_w;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t pack;
  const float* in;
  int64_t in_block_stride, in_batch_stride;
  float* out;
  int64_t out_block_stride, out_batch_stride;
  int64_t items;              // rows (n, unit, oy), split over tasks by TaskRows
  int32_t num_tasks;
  int32_t ring_rows;          // (kh - 1) * dh + 1
  int32_t row_width;          // padded input row width (pixels)
  unsigned char* workspace;
  size_t task_workspace_bytes;
};

using DwTaskFn = void (*)(const DwContext& c, int32_t task);

struct DwVariant {
  const char* name;
  const char* isa;
  int32_t kernel_h, kernel_w, stride;  // 0: any
  int32_t lanes;
  int32_t pack;                        // 0: any layout (ref), else NC{pack}HW{pack} only
  DwTaskFn run_task;
};

// Per-ISA tables (f32_dwconv_<isa>.cc), each ending with its kxk entry.
extern const DwVariant kDwRefVariants[1];
#if defined(SBNN_HAVE_AVX2)
extern const DwVariant kDwAvx2Variants[5];
#endif
#if defined(SBNN_HAVE_AVX512)
extern const DwVariant kDwAvx512Variants[5];
#endif

// V: lanes W, reg, load/store/fma/min/max/set1/zero, and the unit I/O:
//   load_unit(b0, b1, pix, valid), store_unit(o0, o1, pix, reg, valid)
// where b1/o1 are the second 8-channel block (null when absent) and valid the real
// channels of the unit (< W only in the last one: other lanes read and written as 0).
template <class V, int KH, int KW, int S>
void dw_task(const DwContext& c, int32_t task) {
  using reg = typename V::reg;
  constexpr int L = V::W;
  const sbnn_dwconv_weights* w = c.w;
  const int kh = KH ? KH : w->kernel_h, kw = KW ? KW : w->kernel_w;
  const int sh = S ? S : c.stride_h, sw = S ? S : c.stride_w;
  const int dh = c.dilation_h, dw = c.dilation_w;
  const int taps = kh * kw;
  const int64_t rowf = static_cast<int64_t>(c.row_width) * L;  // floats per ring row
  float* ws = reinterpret_cast<float*>(c.workspace + c.task_workspace_bytes * task);
  float* zero_row = ws;
  float* ring = ws + rowf;
  int32_t* tags = reinterpret_cast<int32_t*>(ring + rowf * c.ring_rows);
  for (int64_t i = 0; i < rowf; ++i) zero_row[i] = 0.0f;

  const TaskRows task_rows(c.items, c.out_h, c.num_tasks, task);
  const int ow = c.out_w;
  int64_t cur_nu = -1;
  const float* b0 = nullptr;
  const float* b1 = nullptr;
  float* o0 = nullptr;
  float* o1 = nullptr;
  int valid = L;
  reg bias = V::zero();
  const reg lo = V::set1(w->output_min), hi = V::set1(w->output_max);
  // Weights of the unit: in registers when the tap count is fixed and small.
  constexpr int kRegTaps = (KH && KW && KH * KW <= 9) ? KH * KW : 1;
  reg wr[kRegTaps];
  const float* wp = nullptr;
  const float* rows[64];

  for (int64_t k = 0; k < task_rows.count(); ++k) {
    int64_t nu;
    int oy;
    task_rows.at(k, &nu, &oy);
    if (nu != cur_nu) {
      cur_nu = nu;
      const int n = static_cast<int>(nu / w->units), u = static_cast<int>(nu % w->units);
      const int blk = u * (L / 8);
      const int blocks = (w->channels + 7) / 8;
      b0 = static_cast<const float*>(c.in) + blk * c.in_block_stride + n * c.in_batch_stride;
      o0 = c.out + blk * c.out_block_stride + n * c.out_batch_stride;
      b1 = (L == 16 && blk + 1 < blocks) ? b0 + c.in_block_stride : nullptr;
      o1 = (L == 16 && blk + 1 < blocks) ? o0 + c.out_block_stride : nullptr;
      valid = std::min(L, w->channels - u * L);
      wp = w->weights + static_cast<int64_t>(u) * taps * L;
      bias = V::load(w->bias + static_cast<int64_t>(u) * L);
      if (kRegTaps > 1)
        for (int t = 0; t < kRegTaps; ++t) wr[t] = V::load(wp + t * L);
      for (int r = 0; r < c.ring_rows; ++r) tags[r] = INT_MIN;
    }
    // The input rows of this output row, converted on first use.
    for (int ky = 0; ky < kh; ++ky) {
      const int iy = oy * sh - c.pad_top + ky * dh;
      if (iy < 0 || iy >= c.in_h) {
        rows[ky] = zero_row;
        continue;
      }
      const int slot = iy % c.ring_rows;
      float* dst = ring + slot * rowf;
      rows[ky] = dst;
      if (tags[slot] == iy) continue;
      tags[slot] = iy;
      const int64_t src = static_cast<int64_t>(iy) * c.in_w;
      const int x_begin = std::min(c.pad_left, c.row_width);
      const int x_end = std::min(c.row_width, c.pad_left + c.in_w);
      for (int x = 0; x < x_begin; ++x) V::store(dst + x * L, V::zero());
      for (int x = x_begin; x < x_end; ++x)
        V::store(dst + x * L, V::load_unit(b0, b1, src + x - c.pad_left, valid));
      for (int x = std::max(x_begin, x_end); x < c.row_width; ++x) V::store(dst + x * L, V::zero());
    }
    const int64_t out_pix = static_cast<int64_t>(oy) * ow;
    int ox = 0;
    // T outputs at once: T accumulators, every tap's vector reused across them.
    auto block = [&](auto tconst) {
      constexpr int T = decltype(tconst)::value;
      reg acc[T];
      for (int j = 0; j < T; ++j) acc[j] = bias;
      for (int ky = 0; ky < kh; ++ky) {
        const float* r = rows[ky] + static_cast<int64_t>(ox) * sw * L;
        for (int kx = 0; kx < kw; ++kx) {
          const int t = ky * kw + kx;
          const reg wv = kRegTaps > 1 ? wr[t] : V::load(wp + t * L);
          const float* rk = r + kx * dw * L;
#pragma GCC unroll 8
          for (int j = 0; j < T; ++j) acc[j] = V::fma(V::load(rk + j * sw * L), wv, acc[j]);
        }
      }
      for (int j = 0; j < T; ++j) {
        const reg v = V::min(V::max(acc[j], lo), hi);
        V::store_unit(o0, o1, out_pix + ox + j, v, valid);
      }
      ox += T;
    };
    for (; ox + V::kTile <= ow;) block(std::integral_constant<int, V::kTile>());
    remainder_block<V::kTile - 1>(ow - ox, block);
  }
}

}  // namespace sbnn
