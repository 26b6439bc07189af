// Internal definition of the opaque packed-weights object (docs/PACKED_FORMAT.md).
#pragma once
#include <cstddef>
#include <cstdint>

#include "sparsebytenn/gsparse.h"

namespace sbnn {
struct Variant;
}

struct sbnn_gsparse_weights {
  int32_t out_channels, in_channels, kernel_h, kernel_w, group_size;
  int32_t num_groups;          // ceil(O / G)
  int32_t tile;                // pixels per tile of the chosen variant
  int32_t merged_tail;         // pixels an image's last tile may take beyond `tile` (Variant::merged_tail)
  float output_min, output_max;
  int64_t entries;             // kept (group, input channel, tap) rows
  int64_t nonzero_blocks;      // kept (group, input channel) pairs
  int64_t nonzero_macs_per_pixel;
  const sbnn::Variant* variant;
  // All four arrays live in one 64-byte aligned allocation owned by `storage`.
  int32_t* group_begin;        // num_groups + 1
  int32_t* row_offset;         // entries: k * tile, k = ic*kh*kw + tap
  float* values;               // entries x G
  float* bias;                 // num_groups * G, zero padded
  void* storage;
};
