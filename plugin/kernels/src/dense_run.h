// What the run() of both dense families (depthwise, direct conv) shares: the
// geometry and layout fields of their contexts, the zeroed tail lanes of the
// scalar variants, how their rows are split over tasks, and handing the tasks to the
// executor (which the group-sparse run uses too).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tensor_layout.h"
#include "thread_pool.h"

namespace sbnn {

// Fills the fields every dense context has (sizes, strides, pads, layouts,
// tensors) and checks that input and output share one pack, the variant's own
// when it has one (variant_pack 0: any).
template <class Context>
sbnn_status fill_dense_context(Context* c, const sbnn_conv_geometry* g, int32_t in_channels, int32_t out_channels,
                               const float* input, const sbnn_tensor_layout* input_layout, float* output,
                               const sbnn_tensor_layout* output_layout, int32_t variant_pack) {
  c->batch = g->batch; c->in_h = g->in_h; c->in_w = g->in_w; c->out_h = g->out_h; c->out_w = g->out_w;
  c->stride_h = g->stride_h; c->stride_w = g->stride_w;
  c->dilation_h = g->dilation_h; c->dilation_w = g->dilation_w;
  c->pad_top = g->pad_top; c->pad_left = g->pad_left;
  const int64_t in_hw = static_cast<int64_t>(g->in_h) * g->in_w, out_hw = static_cast<int64_t>(g->out_h) * g->out_w;
  int32_t out_pack = 0;
  if (sbnn_status s = resolve_layout(input_layout, g->batch, in_channels, in_hw, &c->pack, &c->in_block_stride,
                                     &c->in_batch_stride))
    return s;
  if (sbnn_status s = resolve_layout(output_layout, g->batch, out_channels, out_hw, &out_pack, &c->out_block_stride,
                                     &c->out_batch_stride))
    return s;
  if (out_pack != c->pack || (variant_pack != 0 && c->pack != variant_pack)) return SBNN_ERR_BAD_LAYOUT;
  c->in = input;
  c->out = output;
  return SBNN_OK;
}

// Output lanes beyond `channels` in the last block are defined as 0; the SIMD
// tasks write them, the scalar ones (which write only real channels) get this.
template <class Context>
void zero_tail_lanes(const Context& c, int32_t channels) {
  const int32_t P = c.pack;
  if (P <= 1 || channels % P == 0) return;
  const int64_t out_hw = static_cast<int64_t>(c.out_h) * c.out_w;
  const int32_t last = channels / P, first = channels % P;
  for (int32_t n = 0; n < c.batch; ++n) {
    float* base = c.out + last * c.out_block_stride + n * c.out_batch_stride;
    for (int64_t p = 0; p < out_hw; ++p) std::memset(base + p * P + first, 0, sizeof(float) * (P - first));
  }
}

// Task `task` of `tasks` takes items [begin, end) of an even split.
inline void task_range(int64_t items, int32_t tasks, int32_t task, int64_t* begin, int64_t* end) {
  *begin = items * task / tasks;
  *end = items * (task + 1) / tasks;
}

// The output rows (unit, oy) of one task of a row-wise dense op, unit = n * units + u,
// items = batch * units * out_h. With several tasks and bands that come out even
// (within 1/8), every task takes the same band of rows of every unit: it then reads
// the pixels its own thread wrote in the op before (the group-sparse 1x1 convs split
// by pixel tiles) rather than the other core's: 4-8 % less time for MobileNet-V1 at
// 90 % on 2 threads (docs/results/experiments/README.md). Otherwise an even split.
class TaskRows {
 public:
  TaskRows(int64_t items, int32_t out_h, int32_t tasks, int32_t task) : out_h_(out_h) {
    const int64_t per_task = (static_cast<int64_t>(out_h) + tasks - 1) / tasks;
    band_ = tasks > 1 && out_h >= tasks && 8 * per_task * tasks <= 9 * static_cast<int64_t>(out_h);
    if (band_) {
      first_ = static_cast<int64_t>(out_h) * task / tasks;
      band_rows_ = static_cast<int32_t>(static_cast<int64_t>(out_h) * (task + 1) / tasks - first_);
      count_ = items / out_h * band_rows_;
    } else {
      int64_t end;
      task_range(items, tasks, task, &first_, &end);
      count_ = end - first_;
    }
  }
  int64_t count() const { return count_; }
  // The k-th row of the task, k in [0, count()).
  void at(int64_t k, int64_t* unit, int* oy) const {
    if (band_) {
      *unit = k / band_rows_;
      *oy = static_cast<int>(first_ + (k - *unit * band_rows_));
    } else {
      *unit = (first_ + k) / out_h_;
      *oy = static_cast<int>(first_ + k - *unit * out_h_);
    }
  }

 private:
  int32_t out_h_;
  bool band_;
  int64_t first_;        // band: first row; else first item
  int32_t band_rows_ = 0;
  int64_t count_;
};

// The last r (< a full tile) pixels of a row as one block of r accumulators, whose
// tap chains overlap: single-pixel blocks would each wait out every tap's dependent
// FMA (a 7-pixel row of a 5x5 depthwise filter was one 4-pixel and three 1-pixel
// blocks). block(std::integral_constant<int, r>) for r in [1, T]; nothing for r = 0.
template <int T, class Block>
inline void remainder_block(int r, Block& block) {
  if constexpr (T > 0) {
    if (r == T) block(std::integral_constant<int, T>());
    else remainder_block<T - 1>(r, block);
  }
}

// Runs task(ctx, i) for i in [0, tasks): inline for one, else on the host's
// executor or the built-in pool.
inline void run_tasks(const sbnn_executor* executor, int32_t tasks, sbnn_task_fn task, void* ctx) {
  if (tasks == 1) task(ctx, 0);
  else if (executor == nullptr || executor->parallel_for == nullptr) default_parallel_for(nullptr, tasks, task, ctx);
  else executor->parallel_for(executor->executor_ctx, tasks, task, ctx);
}

}  // namespace sbnn

namespace sbnn {

// Activations present and float-aligned.
inline sbnn_status check_tensors(const float* input, const float* output) {
  if (input == nullptr || output == nullptr) return SBNN_ERR_NULL_POINTER;
  if ((reinterpret_cast<uintptr_t>(input) & 3) || (reinterpret_cast<uintptr_t>(output) & 3))
    return SBNN_ERR_MISALIGNED;
  return SBNN_OK;
}

}  // namespace sbnn
