// sbnn_gsparse_run: validates arguments, builds the RunContext, splits the
// work statically into num_threads tasks and hands them to the executor.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "aligned_alloc.h"
#include "dense_run.h"
#include "packed_weights.h"
#include "run_context.h"
#include "sparsebytenn/gsparse.h"
#include "tensor_layout.h"
#include "variants.h"

namespace sbnn {

size_t task_workspace_bytes(const sbnn_gsparse_weights* w) {
  const size_t T = static_cast<size_t>(w->tile);
  const size_t K = static_cast<size_t>(w->in_channels) * w->kernel_h * w->kernel_w;
  const size_t taps = static_cast<size_t>(w->kernel_h) * w->kernel_w;
  return round_up64(sizeof(float) * K * T) + round_up64(sizeof(float) * w->group_size * (T + w->merged_tail)) +
         round_up64(sizeof(int32_t) * taps * T) + round_up64(sizeof(float) * K * w->merged_tail);
}

namespace {

constexpr int32_t kMaxThreads = 256;

sbnn_status check_geometry(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g) {
  return check_conv_geometry(g, w->kernel_h, w->kernel_w);
}

struct Job {
  RunContext ctx;
  TaskFn fn;
};

void run_one_task(void* job, int32_t task) {
  const Job* j = static_cast<const Job*>(job);
  j->fn(j->ctx, task);
}

// Static split (see docs/PACKED_FORMAT.md, "Work split"): the items (tile t,
// group g), in tile-major order t * num_groups + g, cut into `tasks` contiguous
// ranges of equal estimated cost, cost(t, g) = vectors(t) * (entries(g) + 2)
// (+2: bias, clamp and store). Contiguous tile-major ranges mean a task packs
// each input tile it touches once and shares at most the boundary tiles with
// its neighbours, instead of every task packing every tile.
void partition(const sbnn_gsparse_weights* w, int32_t tiles_per_image, int64_t num_tiles, int32_t last_tile_pixels,
               int32_t vector_pixels, int32_t tasks, std::vector<int64_t>& items) {
  const int32_t G = w->num_groups;
  items.assign(tasks + 1, 0);
  items[tasks] = num_tiles * G;
  if (tasks == 1) return;
  // Prefix cost over the groups of one tile (per vector of pixels).
  std::vector<int64_t> gcost(G + 1, 0);
  for (int32_t g = 0; g < G; ++g) gcost[g + 1] = gcost[g] + (w->group_begin[g + 1] - w->group_begin[g]) + 2;
  const int64_t full_vec = (w->tile + vector_pixels - 1) / vector_pixels;
  const int64_t last_vec = (last_tile_pixels + vector_pixels - 1) / vector_pixels;
  const auto vectors = [&](int64_t t) { return (t + 1) % tiles_per_image == 0 ? last_vec : full_vec; };
  const int64_t per_image = (tiles_per_image - 1) * full_vec + last_vec;
  const int64_t total = per_image * (num_tiles / tiles_per_image) * gcost[G];
  int64_t t = 0, done = 0;  // cost of tiles [0, t)
  for (int32_t i = 1; i < tasks; ++i) {
    const int64_t target = total * i / tasks;
    while (t < num_tiles && done + vectors(t) * gcost[G] <= target) done += vectors(t++) * gcost[G];
    int64_t item = t * G;
    if (t < num_tiles) {  // first group g of tile t with done + vectors * gcost[g] >= target
      const int64_t v = vectors(t);
      const int32_t g = static_cast<int32_t>(
          std::lower_bound(gcost.begin(), gcost.end(), (target - done + v - 1) / v) - gcost.begin());
      item += std::min(g, G);
    }
    items[i] = std::max(items[i - 1], item);
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

namespace sbnn {
namespace {

// Both entry points: elem_bytes is the caller's element size (4: float, 2: fp16),
// which must be the packed variant's.
sbnn_status run(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g, const void* input,
                const sbnn_tensor_layout* input_layout, void* output, const sbnn_tensor_layout* output_layout,
                const sbnn_executor* executor, void* workspace, size_t workspace_size, int32_t elem_bytes) {
  if (w == nullptr || g == nullptr || input == nullptr || output == nullptr) return SBNN_ERR_NULL_POINTER;
  if (w->variant->elem_bytes != elem_bytes) return SBNN_ERR_UNKNOWN_VARIANT;
  const uintptr_t align = static_cast<uintptr_t>(elem_bytes) - 1;
  if ((reinterpret_cast<uintptr_t>(input) & align) || (reinterpret_cast<uintptr_t>(output) & align))
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
  // Tiles of `tile` pixels; a rest of at most merged_tail pixels joins the last one.
  int64_t tiles = (out_hw + w->tile - 1) / w->tile;
  if (tiles > 1 && out_hw - (tiles - 1) * w->tile <= w->merged_tail) --tiles;
  c.tiles_per_image = static_cast<int32_t>(tiles);
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
      auto* base = static_cast<unsigned char*>(output) + (last * c.out_block_stride + n * c.out_batch_stride) * elem_bytes;
      for (int64_t p = 0; p < out_hw; ++p)
        std::memset(base + (p * P + first_lane) * elem_bytes, 0, static_cast<size_t>(elem_bytes) * (P - first_lane));
    }
  }

  std::vector<int64_t> task_items;
  // Never more tasks than work items.
  const int32_t tasks = static_cast<int32_t>(
      std::max<int64_t>(1, std::min<int64_t>(threads, c.tiles_total * w->num_groups)));
  const int32_t last_tile_pixels = static_cast<int32_t>(out_hw - static_cast<int64_t>(c.tiles_per_image - 1) * w->tile);
  partition(w, c.tiles_per_image, c.tiles_total, last_tile_pixels, w->variant->vector_pixels, tasks, task_items);
  c.num_tasks = tasks;
  c.task_items = task_items.data();
  Job job{c, w->variant->run_task};
  run_tasks(executor, tasks, &run_one_task, &job);
  free_aligned(owned);
  return SBNN_OK;
}

}  // namespace
}  // namespace sbnn

extern "C" sbnn_status sbnn_gsparse_run(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g,
                                        const float* input, const sbnn_tensor_layout* input_layout,
                                        float* output, const sbnn_tensor_layout* output_layout,
                                        const sbnn_executor* executor, void* workspace,
                                        size_t workspace_size) {
  return sbnn::run(w, g, input, input_layout, output, output_layout, executor, workspace, workspace_size, 4);
}

extern "C" sbnn_status sbnn_gsparse_run_f16(const sbnn_gsparse_weights* w, const sbnn_conv_geometry* g,
                                            const uint16_t* input, const sbnn_tensor_layout* input_layout,
                                            uint16_t* output, const sbnn_tensor_layout* output_layout,
                                            const sbnn_executor* executor, void* workspace,
                                            size_t workspace_size) {
  return sbnn::run(w, g, input, input_layout, output, output_layout, executor, workspace, workspace_size, 2);
}
