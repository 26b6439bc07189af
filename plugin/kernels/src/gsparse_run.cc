// sbnn_gsparse_run: validates arguments, builds the RunContext, splits the
// work statically into num_threads tasks and hands them to the executor.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "aligned_alloc.h"
#include "packed_weights.h"
#include "run_context.h"
#include "sparsebytenn/gsparse.h"
#include "thread_pool.h"
#include "variants.h"

namespace sbnn {

size_t task_workspace_bytes(const sbnn_gsparse_weights* w) {
  const size_t T = static_cast<size_t>(w->tile);
  const size_t K = static_cast<size_t>(w->in_channels) * w->kernel_h * w->kernel_w;
  const size_t taps = static_cast<size_t>(w->kernel_h) * w->kernel_w;
  return round_up64(sizeof(float) * K * T) + round_up64(sizeof(float) * w->group * T) +
         round_up64(sizeof(int32_t) * taps * T);
}

namespace {

constexpr int32_t kMaxThreads = 256;

bool valid_pack(int32_t p) { return p == 1 || p == 4 || p == 8 || p == 16; }

int64_t expected_out(int64_t in, int64_t pad_a, int64_t pad_b, int64_t k, int64_t stride, int64_t dil) {
  const int64_t span = in + pad_a + pad_b - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// Fills default strides and checks that the tensor fits the declared strides
// (a stride smaller than the data it must skip would alias channels/images).
sbnn_status resolve_layout(const sbnn_tensor_layout* in, int32_t N, int32_t C, int64_t HW,
                           int32_t* pack, int64_t* block_stride, int64_t* batch_stride) {
  if (in == nullptr) return SBNN_ERR_NULL_POINTER;
  if (!valid_pack(in->pack)) return SBNN_ERR_BAD_LAYOUT;
  if (in->batch_stride < 0 || in->block_stride < 0) return SBNN_ERR_BAD_LAYOUT;
  const int32_t P = in->pack;
  *pack = P;
  if (P == 1) {
    *block_stride = in->block_stride ? in->block_stride : HW;
    *batch_stride = in->batch_stride ? in->batch_stride : C * HW;
    if (*block_stride < HW) return SBNN_ERR_BAD_LAYOUT;
    if (N > 1 && *batch_stride < (C - 1) * *block_stride + HW) return SBNN_ERR_BAD_LAYOUT;
  } else {
    const int64_t plane = HW * P, blocks = (C + P - 1) / P;
    *batch_stride = in->batch_stride ? in->batch_stride : plane;
    *block_stride = in->block_stride ? in->block_stride : N * plane;
    // Either batch-major or block-major nesting is fine as long as nothing overlaps.
    if (*batch_stride < plane && N > 1) return SBNN_ERR_BAD_LAYOUT;
    if (*block_stride < plane && blocks > 1) return SBNN_ERR_BAD_LAYOUT;
    const bool batch_inner = *batch_stride <= *block_stride;
    if (batch_inner && blocks > 1 && *block_stride < (N - 1) * *batch_stride + plane) return SBNN_ERR_BAD_LAYOUT;
    if (!batch_inner && N > 1 && *batch_stride < (blocks - 1) * *block_stride + plane) return SBNN_ERR_BAD_LAYOUT;
  }
  return SBNN_OK;
}

sbnn_status check_geometry(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g) {
  if (g->batch < 1 || g->in_h < 1 || g->in_w < 1 || g->out_h < 1 || g->out_w < 1) return SBNN_ERR_BAD_SHAPE;
  if (g->stride_h < 1 || g->stride_w < 1 || g->dilation_h < 1 || g->dilation_w < 1) return SBNN_ERR_BAD_PARAM;
  if (g->pad_top < 0 || g->pad_left < 0 || g->pad_bottom < 0 || g->pad_right < 0) return SBNN_ERR_BAD_PARAM;
  if (static_cast<int64_t>(g->in_h) * g->in_w > INT32_MAX / 16 ||
      static_cast<int64_t>(g->out_h) * g->out_w > INT32_MAX / 16)
    return SBNN_ERR_BAD_SHAPE;
  if (g->out_h != expected_out(g->in_h, g->pad_top, g->pad_bottom, w->kernel_h, g->stride_h, g->dilation_h) ||
      g->out_w != expected_out(g->in_w, g->pad_left, g->pad_right, w->kernel_w, g->stride_w, g->dilation_w))
    return SBNN_ERR_BAD_SHAPE;
  return SBNN_OK;
}

struct Job {
  RunContext ctx;
  TaskFn fn;
};

void run_one_task(void* job, int32_t task) {
  const Job* j = static_cast<const Job*>(job);
  j->fn(j->ctx, task);
}

// Static split (see docs/PACKED_FORMAT.md, "Work split"): tiles[2i..2i+1] and
// groups[2i..2i+1] are task i's ranges.
void partition(const sbnn_gsparse_weights* w, int64_t num_tiles, int32_t tasks, std::vector<int64_t>& tiles,
               std::vector<int32_t>& groups) {
  tiles.assign(2 * tasks, 0);
  groups.assign(2 * tasks, 0);
  if (num_tiles >= 4LL * tasks || w->num_groups < tasks) {
    for (int32_t i = 0; i < tasks; ++i) {
      tiles[2 * i] = num_tiles * i / tasks;
      tiles[2 * i + 1] = num_tiles * (i + 1) / tasks;
      groups[2 * i] = 0;
      groups[2 * i + 1] = w->num_groups;
    }
    return;
  }
  // Split groups, balanced by kept entries (+1 per group for its bias/store work).
  const int64_t total = w->entries + w->num_groups;
  int32_t g = 0;
  for (int32_t i = 0; i < tasks; ++i) {
    tiles[2 * i] = 0;
    tiles[2 * i + 1] = num_tiles;
    groups[2 * i] = g;
    const int64_t target = total * (i + 1) / tasks;
    while (g < w->num_groups && w->group_begin[g] + g < target) ++g;
    if (i == tasks - 1) g = w->num_groups;
    groups[2 * i + 1] = g;
  }
}

}  // namespace
}  // namespace sbnn

extern "C" size_t sbnn_gsparse_workspace_size(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g,
                                              int32_t num_threads) {
  if (w == nullptr || g == nullptr || num_threads < 1 || num_threads > sbnn::kMaxThreads) return 0;
  if (sbnn::check_geometry(w, g) != SBNN_OK) return 0;
  return sbnn::task_workspace_bytes(w) * static_cast<size_t>(num_threads) + 64;
}

extern "C" sbnn_status sbnn_gsparse_run(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g,
                                        const float* input, const sbnn_tensor_layout* input_layout,
                                        float* output, const sbnn_tensor_layout* output_layout,
                                        const sbnn_executor* executor, void* workspace,
                                        size_t workspace_size) {
  using namespace sbnn;
  if (w == nullptr || g == nullptr || input == nullptr || output == nullptr) return SBNN_ERR_NULL_POINTER;
  if ((reinterpret_cast<uintptr_t>(input) & 3) || (reinterpret_cast<uintptr_t>(output) & 3))
    return SBNN_ERR_MISALIGNED;
  if (sbnn_status s = check_geometry(w, g)) return s;
  const int32_t threads = executor ? executor->num_threads : 1;
  if (threads < 1 || threads > kMaxThreads) return SBNN_ERR_EXECUTOR;

  RunContext c{};
  c.w = w;
  c.batch = g->batch; c.in_h = g->in_h; c.in_w = g->in_w; c.out_h = g->out_h; c.out_w = g->out_w;
  c.stride_h = g->stride_h; c.stride_w = g->stride_w;
  c.dilation_h = g->dilation_h; c.dilation_w = g->dilation_w;
  c.pad_top = g->pad_top; c.pad_left = g->pad_left;
  c.contiguous_1x1 = w->kernel_h == 1 && w->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                     g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  const int64_t in_hw = static_cast<int64_t>(g->in_h) * g->in_w;
  const int64_t out_hw = static_cast<int64_t>(g->out_h) * g->out_w;
  if (sbnn_status s = resolve_layout(input_layout, g->batch, w->in_channels, in_hw, &c.in_pack,
                                     &c.in_block_stride, &c.in_batch_stride))
    return s;
  if (sbnn_status s = resolve_layout(output_layout, g->batch, w->out_channels, out_hw, &c.out_pack,
                                     &c.out_block_stride, &c.out_batch_stride))
    return s;
  c.in = input;
  c.out = output;
  c.tiles_per_image = static_cast<int32_t>((out_hw + w->tile - 1) / w->tile);
  c.tiles_total = static_cast<int64_t>(c.tiles_per_image) * g->batch;

  const size_t per_task = task_workspace_bytes(w);
  const size_t needed = per_task * threads + 64;
  void* owned = nullptr;
  if (workspace == nullptr) {
    owned = alloc_aligned64(needed);
    if (owned == nullptr) return SBNN_ERR_OUT_OF_MEMORY;
    workspace = owned;
  } else {
    if (workspace_size < needed) return SBNN_ERR_WORKSPACE_TOO_SMALL;
    if (reinterpret_cast<uintptr_t>(workspace) & 3) return SBNN_ERR_MISALIGNED;
  }
  // Align the first task slice to 64 bytes (the +64 in the size pays for it).
  auto* ws = static_cast<unsigned char*>(workspace);
  ws += (64 - (reinterpret_cast<uintptr_t>(ws) & 63)) & 63;
  c.workspace = ws;
  c.task_workspace_bytes = per_task;

  // Output lanes beyond O in the last channel block are defined as 0.
  if (c.out_pack > 1 && w->out_channels % c.out_pack != 0) {
    const int32_t P = c.out_pack, last = w->out_channels / P, first_lane = w->out_channels % P;
    for (int32_t n = 0; n < g->batch; ++n) {
      float* base = output + last * c.out_block_stride + n * c.out_batch_stride;
      for (int64_t p = 0; p < out_hw; ++p)
        std::memset(base + p * P + first_lane, 0, sizeof(float) * (P - first_lane));
    }
  }

  std::vector<int64_t> task_tiles;
  std::vector<int32_t> task_groups;
  // Never more tasks than independent pieces of work.
  const int32_t tasks = static_cast<int32_t>(
      std::max<int64_t>(1, std::min<int64_t>(threads, std::max<int64_t>(c.tiles_total, w->num_groups))));
  partition(w, c.tiles_total, tasks, task_tiles, task_groups);
  c.num_tasks = tasks;
  c.task_tiles = task_tiles.data();
  c.task_groups = task_groups.data();
  Job job{c, w->variant->run_task};
  if (tasks == 1 || executor == nullptr || executor->parallel_for == nullptr) {
    if (tasks == 1) {
      run_one_task(&job, 0);
    } else {
      default_parallel_for(nullptr, tasks, &run_one_task, &job);
    }
  } else {
    executor->parallel_for(executor->executor_ctx, tasks, &run_one_task, &job);
  }
  free_aligned(owned);
  return SBNN_OK;
}
