// What the bridge needs to know about one MNN Convolution op: geometry, fused
// activation and the sparse weights (MNN's float-sparse IDSTQuan coding, see
// docs/FORMAT.md), read straight from the op's flatbuffer.
#ifndef SBNN_MNN_BRIDGE_SPARSE_CONV_SPEC_H_
#define SBNN_MNN_BRIDGE_SPARSE_CONV_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "flatbuffer_view.h"
#include "sparsebytenn/dconv.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {

struct SparseConvSpec {
  std::string name;
  int32_t kernel_h = 1, kernel_w = 1;
  int32_t stride_h = 1, stride_w = 1;
  int32_t dilation_h = 1, dilation_w = 1;
  int32_t pad_mode = 0;  // 0 CAFFE, 1 VALID, 2 SAME
  int32_t pad_x = 0, pad_y = 0;
  VectorView<int32_t> pads;  // [top, left, bottom, right] as MNN reads them
  int32_t conv_groups = 1;  // the convolution's own groups (1: not a grouped conv)
  int32_t out_channels = 0, in_channels = 0;
  bool relu = false, relu6 = false;
  // Sparse metadata.
  int32_t group_size = 0;   // G: sbnnGroup, else sparseBlockOC
  int32_t sbnn_format = 0;  // 0 when the file was tagged by MNN's converter
  uint32_t weight_size = 0;
  VectorView<float> alpha;
  VectorView<uint32_t> index;
  VectorView<float> bias;
};

// True when `op` is a Convolution carrying sparse metadata, i.e. one the bridge
// wants to run; fills *spec. Ops it does not want (dense, depthwise, quantized,
// external weights, multi-input) return false without a message.
bool ReadSparseConv(const void* op, SparseConvSpec* spec);

// Empty when the metadata is consistent with an input of `input_channels`;
// otherwise the reason it is not (the conv then falls back to MNN).
std::string ValidateSparseConv(const SparseConvSpec& spec, int32_t input_channels);

// A ConvolutionDepthwise op (OpType 13): MNN stores C x kh x kw float weights
// (group = outputCount = C); geometry and activation as for Convolution.
struct DepthwiseSpec {
  SparseConvSpec conv;          // geometry, relu/relu6, bias; no sparse fields
  VectorView<float> weight;     // C * kh * kw
};

// False when `op` is not a ConvolutionDepthwise. True otherwise, with *why empty
// when the plugin can run it (weights are plain floats, sizes consistent) and the
// reason it cannot when not (only spec->conv.name is then meaningful).
bool ReadDepthwiseConv(const void* op, DepthwiseSpec* spec, std::string* why);

// A dense fp32 Convolution op (not grouped, not sparse-coded or quantized): O x I x kh x kw
// floats. The bridge's dense takeovers run two kinds of them: those with few input
// channels (at most SBNN_DCONV_MAX_IN_CHANNELS, a network's first conv) on the direct
// conv kernels, and the 1x1 ones with more on the group-sparse kernels, every unit kept.
struct DenseConvSpec {
  SparseConvSpec conv;          // geometry, relu/relu6, bias, in_channels (derived); no sparse fields
  VectorView<float> weight;     // O * I * kh * kw, OIHW
};
enum class DenseConvKind { kDirect, kPointwise };

// False when `op` is not a dense conv of `kind` (another op, sparse-coded or quantized
// weights, grouped; for kDirect more input channels; for kPointwise not 1x1 or few
// input channels). True otherwise, with *why empty when the plugin can run it and the
// reason it cannot when not (only spec->conv.name is then meaningful).
bool ReadDenseConv(const void* op, DenseConvKind kind, DenseConvSpec* spec, std::string* why);

// The fused activation as the kernels' clamp: [0, 6] for ReLU6, [0, inf) for ReLU,
// else unbounded.
float ClampMin(const SparseConvSpec& spec);
float ClampMax(const SparseConvSpec& spec);

// The spec's geometry without its views into the model buffer (which MNN may
// release after a resize).
SparseConvSpec GeometryOnly(const SparseConvSpec& spec);

// Fills *g's sizes, strides, dilations and pads for an input ih x iw and MNN's
// output oh x ow (pads: the op's pads vector, copied). Empty, or why it cannot.
std::string PlanConvPads(const SparseConvSpec& spec, const std::vector<int32_t>& pads, int ih, int iw, int oh,
                         int ow, sbnn_conv_geometry* g);

// Dense OIHW weights rebuilt from alpha/index (validated spec only).
std::vector<float> DensifyWeights(const SparseConvSpec& spec);

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_SPARSE_CONV_SPEC_H_
