// Shared by the gsparse and dwconv entry points: output size per axis and the
// activation layout check of gsparse.h.
#pragma once
#include <climits>
#include <cstdint>

#include "sparsebytenn/gsparse.h"

namespace sbnn {

inline bool valid_pack(int32_t p) { return p == 1 || p == 4 || p == 8 || p == 16; }

inline int64_t expected_out(int64_t in, int64_t pad_a, int64_t pad_b, int64_t k, int64_t stride, int64_t dil) {
  const int64_t span = in + pad_a + pad_b - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// Fills default strides and checks that the tensor fits the declared strides
// (a stride smaller than the data it must skip would alias channels/images).
inline sbnn_status resolve_layout(const sbnn_tensor_layout* in, int32_t N, int32_t C, int64_t HW,
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

// Sizes, strides, dilations and pads valid, and out_h / out_w what they imply.
inline sbnn_status check_conv_geometry(const sbnn_conv_geometry* g, int32_t kernel_h, int32_t kernel_w) {
  if (g->batch < 1 || g->in_h < 1 || g->in_w < 1 || g->out_h < 1 || g->out_w < 1) return SBNN_ERR_BAD_SHAPE;
  if (g->stride_h < 1 || g->stride_w < 1 || g->dilation_h < 1 || g->dilation_w < 1) return SBNN_ERR_BAD_PARAM;
  if (g->pad_top < 0 || g->pad_left < 0 || g->pad_bottom < 0 || g->pad_right < 0) return SBNN_ERR_BAD_PARAM;
  if (static_cast<int64_t>(g->in_h) * g->in_w > INT32_MAX / 16 ||
      static_cast<int64_t>(g->out_h) * g->out_w > INT32_MAX / 16)
    return SBNN_ERR_BAD_SHAPE;
  if (g->out_h != expected_out(g->in_h, g->pad_top, g->pad_bottom, kernel_h, g->stride_h, g->dilation_h) ||
      g->out_w != expected_out(g->in_w, g->pad_left, g->pad_right, kernel_w, g->stride_w, g->dilation_w))
    return SBNN_ERR_BAD_SHAPE;
  return SBNN_OK;
}

}  // namespace sbnn
