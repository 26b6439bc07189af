// What the run() of both dense families (depthwise, direct conv) shares: the
// geometry and layout fields of their contexts, the zeroed tail lanes of the
// scalar variants, the even split of their items, and handing the tasks to the
// executor (which the group-sparse run uses too).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

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
