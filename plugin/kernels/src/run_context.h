// Everything one task of sbnn_gsparse_run needs; built once per run by
// gsparse_run.cc and read (never written) by the per-ISA task functions.
#pragma once
#include <cstddef>
#include <cstdint>

#include "packed_weights.h"

namespace sbnn {

struct RunContext {
  const sbnn_gsparse_weights* w;
  int32_t batch, in_h, in_w, out_h, out_w;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  bool contiguous_1x1;          // 1x1, stride 1, no padding: a tile is a run of input pixels
  const void* in;               // float, or the variant's element type (Variant::elem_bytes)
  int32_t in_pack;              // 1 = NCHW, else P
  int64_t in_block_stride, in_batch_stride;
  void* out;
  int32_t out_pack;
  int64_t out_block_stride, out_batch_stride;
  int32_t tiles_per_image;
  int64_t tiles_total;
  // Static partition of the work items (tile t, output group g), numbered
  // t * num_groups + g: task i owns items [task_items[i], task_items[i+1]).
  int32_t num_tasks;
  const int64_t* task_items;
  unsigned char* workspace;
  size_t task_workspace_bytes;
};

// Per-task scratch: input tile (K x T floats), output block (G x T floats),
// per-tap pixel offsets (kh*kw x T int32), merged tail pixels (K x merged_tail floats).
size_t task_workspace_bytes(const sbnn_gsparse_weights* w);

using TaskFn = void (*)(const RunContext& ctx, int32_t task);

}  // namespace sbnn
