#include "sparse_conv_spec.h"

#include <cmath>

namespace sbnn {
namespace mnnbridge {
namespace {

// Field ids (docs/FORMAT.md).
enum OpField { kOpInputs = 0, kOpMainType = 1, kOpMain = 2, kOpName = 3, kOpOutputs = 4, kOpType = 5 };
enum ConvField { kConvCommon = 0, kConvWeight = 1, kConvBias = 2, kConvQuan = 3, kConvSparse = 5, kConvExternal = 6 };
enum CommonField {
  kPadX = 0, kPadY, kKernelX, kKernelY, kStrideX, kStrideY, kDilateX, kDilateY, kPadMode, kGroup,
  kOutputCount, kInputCount, kRelu, kRelu6, kPads
};
enum QuanField { kQuanBuffer = 0, kQuanAlpha = 1, kQuanType = 2, kQuanWeightSize = 12, kQuanIndex = 13,
                 kQuanAlphaFp16 = 14, kQuanScaleStorage = 15 };
enum SparseField { kSparseMethod = 0, kSparseArgs = 1 };
enum AttributeField { kAttrS = 0, kAttrI = 1, kAttrKey = 3 };

constexpr int32_t kOpTypeConvolution = 12;
constexpr int32_t kOpTypeConvolutionDepthwise = 13;
constexpr uint8_t kOpParameterConvolution2D = 9;

// The Convolution2DCommon fields both conv kinds read.
void ReadCommon(const TableView& op, const TableView& common, SparseConvSpec* s) {
  s->name = op.String(kOpName);
  s->pad_x = common.Scalar<int32_t>(kPadX, 0);
  s->pad_y = common.Scalar<int32_t>(kPadY, 0);
  s->kernel_w = common.Scalar<int32_t>(kKernelX, 1);
  s->kernel_h = common.Scalar<int32_t>(kKernelY, 1);
  s->stride_w = common.Scalar<int32_t>(kStrideX, 1);
  s->stride_h = common.Scalar<int32_t>(kStrideY, 1);
  s->dilation_w = common.Scalar<int32_t>(kDilateX, 1);
  s->dilation_h = common.Scalar<int32_t>(kDilateY, 1);
  s->pad_mode = common.Scalar<int8_t>(kPadMode, 0);
  s->conv_groups = common.Scalar<int32_t>(kGroup, 1);
  s->out_channels = common.Scalar<int32_t>(kOutputCount, 0);
  s->in_channels = common.Scalar<int32_t>(kInputCount, 0);
  s->relu = common.Scalar<uint8_t>(kRelu, 0) != 0;
  s->relu6 = common.Scalar<uint8_t>(kRelu6, 0) != 0;
  s->pads = common.Vector<int32_t>(kPads);
}

// The checks both dense readers end with: empty, or why the op cannot run.
std::string CheckBiasAndPadMode(const SparseConvSpec& s) {
  if (s.bias.present() && s.bias.size != static_cast<uint32_t>(s.out_channels))
    return "bias has " + std::to_string(s.bias.size) + " values for " + std::to_string(s.out_channels) +
           " channels";
  if (s.pad_mode < 0 || s.pad_mode > 2) return "unknown padMode " + std::to_string(s.pad_mode);
  return std::string();
}

}  // namespace

bool ReadSparseConv(const void* op_ptr, SparseConvSpec* spec) {
  TableView op(op_ptr);
  if (!op.valid() || op.Scalar<int32_t>(kOpType, 0) != kOpTypeConvolution) return false;
  if (op.Scalar<uint8_t>(kOpMainType, 0) != kOpParameterConvolution2D) return false;
  if (op.Vector<int32_t>(kOpInputs).size != 1 || op.Vector<int32_t>(kOpOutputs).size != 1) return false;
  TableView conv = op.Table(kOpMain);
  TableView common = conv.Table(kConvCommon);
  TableView quan = conv.Table(kConvQuan);
  TableView sparse = conv.Table(kConvSparse);
  if (!conv.valid() || !common.valid() || !quan.valid() || !sparse.valid()) return false;
  if (!quan.Has(kQuanIndex)) return false;                       // not float-sparse coded
  if (conv.Vector<int64_t>(kConvExternal).size > 0) return false;  // weights live in another file
  if (quan.Vector<int8_t>(kQuanBuffer).size > 0) return false;     // int8-quantized weights
  if (quan.Scalar<int8_t>(kQuanScaleStorage, 0) != 0) return false;  // fp16 alpha

  SparseConvSpec s;
  ReadCommon(op, common, &s);
  s.weight_size = quan.Scalar<uint32_t>(kQuanWeightSize, 0);
  s.alpha = quan.Vector<float>(kQuanAlpha);
  s.index = quan.Vector<uint32_t>(kQuanIndex);
  s.bias = conv.Vector<float>(kConvBias);

  int32_t block_oc = 0;
  VectorView<uint32_t> args = sparse.Vector<uint32_t>(kSparseArgs);
  for (uint32_t i = 0; i < args.size; ++i) {
    TableView attr = sparse.TableAt(args, i);
    std::string key = attr.String(kAttrKey);
    if (key == "sbnnGroup") s.group_size = attr.Scalar<int32_t>(kAttrI, 0);
    if (key == "sbnnFormat") s.sbnn_format = attr.Scalar<int32_t>(kAttrI, 0);
    if (key == "sparseBlockOC") block_oc = attr.Scalar<int32_t>(kAttrI, 0);
  }
  if (s.group_size == 0) s.group_size = block_oc;
  *spec = s;
  return true;
}

std::string ValidateSparseConv(const SparseConvSpec& s, int32_t input_channels) {
  auto fail = [&](const std::string& why) { return why; };
  if (s.sbnn_format != 0 && s.sbnn_format != 1)
    return fail("unknown sbnnFormat " + std::to_string(s.sbnn_format) + " (this plugin reads format 1)");
  if (s.group_size != 1 && s.group_size != 2 && s.group_size != 4 && s.group_size != 8 && s.group_size != 16)
    return fail("group size G=" + std::to_string(s.group_size) + " is not one of 1, 2, 4, 8, 16");
  if (s.conv_groups != 1) return fail("grouped convolution (group " + std::to_string(s.conv_groups) + ")");
  if (s.out_channels <= 0) return fail("outputCount is missing");
  int32_t in_channels = s.in_channels > 0 ? s.in_channels : input_channels;
  if (in_channels != input_channels)
    return fail("inputCount " + std::to_string(s.in_channels) + " differs from the input tensor's " +
                std::to_string(input_channels) + " channels");
  if (s.kernel_h < 1 || s.kernel_w < 1 || s.stride_h < 1 || s.stride_w < 1 || s.dilation_h < 1 ||
      s.dilation_w < 1)
    return fail("kernel, stride or dilation below 1");
  const uint64_t expected = static_cast<uint64_t>(s.out_channels) * in_channels * s.kernel_h * s.kernel_w;
  if (s.weight_size != expected)
    return fail("weightSize " + std::to_string(s.weight_size) + " != O*I*kh*kw = " + std::to_string(expected));
  if (!s.alpha.present() || s.alpha.size != s.index.size)
    return fail("alpha has " + std::to_string(s.alpha.size) + " values but index has " +
                std::to_string(s.index.size));
  if (s.index.size == 0) return fail("index is empty");
  for (uint32_t i = 0; i < s.index.size; ++i) {
    uint32_t idx = s.index.data[i];
    if (idx >= s.weight_size)
      return fail("index[" + std::to_string(i) + "] = " + std::to_string(idx) + " is not below weightSize " +
                  std::to_string(s.weight_size));
    if (i > 0 && idx <= s.index.data[i - 1]) return fail("index is not strictly ascending at " + std::to_string(i));
    if (!std::isfinite(s.alpha.data[i])) return fail("alpha[" + std::to_string(i) + "] is not finite");
  }
  if (s.bias.present() && s.bias.size != static_cast<uint32_t>(s.out_channels))
    return fail("bias has " + std::to_string(s.bias.size) + " values for " + std::to_string(s.out_channels) +
                " output channels");
  if (s.pad_mode < 0 || s.pad_mode > 2) return fail("unknown padMode " + std::to_string(s.pad_mode));
  return std::string();
}

std::vector<float> DensifyWeights(const SparseConvSpec& s) {
  std::vector<float> dense(s.weight_size, 0.0f);
  for (uint32_t i = 0; i < s.index.size; ++i) dense[s.index.data[i]] = s.alpha.data[i];
  return dense;
}

}  // namespace mnnbridge
}  // namespace sbnn

namespace sbnn {
namespace mnnbridge {

bool ReadDepthwiseConv(const void* op_ptr, DepthwiseSpec* spec, std::string* why) {
  TableView op(op_ptr);
  if (!op.valid() || op.Scalar<int32_t>(kOpType, 0) != kOpTypeConvolutionDepthwise) return false;
  DepthwiseSpec d;
  d.conv.name = op.String(kOpName);
  auto refuse = [&](const std::string& reason) {
    *spec = d;
    *why = reason;
    return true;
  };
  if (op.Scalar<uint8_t>(kOpMainType, 0) != kOpParameterConvolution2D) return refuse("no Convolution2D parameters");
  if (op.Vector<int32_t>(kOpInputs).size != 1 || op.Vector<int32_t>(kOpOutputs).size != 1)
    return refuse("not one input and one output (weights as inputs?)");
  TableView conv = op.Table(kOpMain);
  TableView common = conv.Table(kConvCommon);
  if (!conv.valid() || !common.valid()) return refuse("no Convolution2DCommon");
  ReadCommon(op, common, &d.conv);
  if (conv.Has(kConvQuan) || conv.Vector<int64_t>(kConvExternal).size > 0)
    return refuse("quantized, sparse-coded or external weights");
  d.weight = conv.Vector<float>(kConvWeight);
  d.conv.bias = conv.Vector<float>(kConvBias);
  const SparseConvSpec& s = d.conv;
  const uint64_t taps = static_cast<uint64_t>(s.kernel_h) * s.kernel_w;
  if (s.out_channels <= 0 || s.kernel_h < 1 || s.kernel_w < 1 || s.stride_h < 1 || s.stride_w < 1 ||
      s.dilation_h < 1 || s.dilation_w < 1)
    return refuse("outputCount, kernel, stride or dilation below 1");
  if (d.weight.size != s.out_channels * taps)
    return refuse(std::to_string(d.weight.size) + " weights for " + std::to_string(s.out_channels) +
                  " channels of " + std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w));
  if (std::string reason = CheckBiasAndPadMode(s); !reason.empty()) return refuse(reason);
  *spec = d;
  why->clear();
  return true;
}

bool ReadDenseConv(const void* op_ptr, DenseConvKind kind, DenseConvSpec* spec, std::string* why) {
  TableView op(op_ptr);
  if (!op.valid() || op.Scalar<int32_t>(kOpType, 0) != kOpTypeConvolution) return false;
  if (op.Scalar<uint8_t>(kOpMainType, 0) != kOpParameterConvolution2D) return false;
  TableView conv = op.Table(kOpMain);
  TableView common = conv.Table(kConvCommon);
  if (!conv.valid() || !common.valid() || conv.Has(kConvQuan)) return false;  // sparse-coded or quantized
  DenseConvSpec d;
  ReadCommon(op, common, &d.conv);
  d.weight = conv.Vector<float>(kConvWeight);
  d.conv.bias = conv.Vector<float>(kConvBias);
  SparseConvSpec& s = d.conv;
  if (s.conv_groups != 1 || s.out_channels <= 0 || s.kernel_h < 1 || s.kernel_w < 1) return false;
  const uint64_t per_input = static_cast<uint64_t>(s.out_channels) * s.kernel_h * s.kernel_w;
  const uint64_t inputs = d.weight.size / per_input;
  const bool few_inputs = s.in_channels <= SBNN_DCONV_MAX_IN_CHANNELS && inputs <= SBNN_DCONV_MAX_IN_CHANNELS;
  if (kind == DenseConvKind::kDirect && !few_inputs) return false;
  if (kind == DenseConvKind::kPointwise && (few_inputs || s.kernel_h != 1 || s.kernel_w != 1)) return false;
  auto refuse = [&](const std::string& reason) {
    *spec = d;
    *why = reason;
    return true;
  };
  if (op.Vector<int32_t>(kOpInputs).size != 1 || op.Vector<int32_t>(kOpOutputs).size != 1)
    return refuse("not one input and one output (weights as inputs?)");
  if (conv.Vector<int64_t>(kConvExternal).size > 0) return refuse("external weights");
  if (inputs == 0 || d.weight.size != inputs * per_input || (s.in_channels > 0 && s.in_channels != inputs))
    return refuse(std::to_string(d.weight.size) + " weights for " + std::to_string(s.out_channels) + " x " +
                  std::to_string(s.in_channels) + " x " + std::to_string(s.kernel_h) + "x" +
                  std::to_string(s.kernel_w));
  s.in_channels = static_cast<int32_t>(inputs);
  if (kind == DenseConvKind::kDirect)
    for (uint32_t i = 0; i < d.weight.size; ++i)
      if (!std::isfinite(d.weight.data[i]))
        return refuse("non-finite weights (the direct conv kernels skip zero-padding taps, where MNN's 0 x inf "
                      "is NaN)");
  if (s.stride_h < 1 || s.stride_w < 1 || s.dilation_h < 1 || s.dilation_w < 1)
    return refuse("stride or dilation below 1");
  if (std::string reason = CheckBiasAndPadMode(s); !reason.empty()) return refuse(reason);
  *spec = d;
  why->clear();
  return true;
}

float ClampMin(const SparseConvSpec& spec) { return (spec.relu || spec.relu6) ? 0.0f : -INFINITY; }
float ClampMax(const SparseConvSpec& spec) { return spec.relu6 ? 6.0f : INFINITY; }

SparseConvSpec GeometryOnly(const SparseConvSpec& spec) {
  SparseConvSpec g = spec;
  g.pads = VectorView<int32_t>();
  g.alpha = VectorView<float>();
  g.index = VectorView<uint32_t>();
  g.bias = VectorView<float>();
  return g;
}

std::string PlanConvPads(const SparseConvSpec& s, const std::vector<int32_t>& pads, int ih, int iw, int oh, int ow,
                         sbnn_conv_geometry* g) {
  // Leading pads as MNN computes them (ConvolutionCommon::convolutionPad), the
  // trailing ones as whatever makes MNN's output size come out exactly.
  int pad_left = s.pad_x, pad_top = s.pad_y;
  const int kw_eff = (s.kernel_w - 1) * s.dilation_w + 1;
  const int kh_eff = (s.kernel_h - 1) * s.dilation_h + 1;
  if (s.pad_mode == 2) {  // SAME
    pad_left = ((ow - 1) * s.stride_w + kw_eff - iw) / 2;
    pad_top = ((oh - 1) * s.stride_h + kh_eff - ih) / 2;
  } else if (pads.size() >= 2) {
    pad_left = pads[1];
    pad_top = pads[0];
  }
  if (pad_left < 0 || pad_top < 0) return "negative padding";
  const int right = (ow - 1) * s.stride_w + kw_eff - 1 - pad_left;
  const int bottom = (oh - 1) * s.stride_h + kh_eff - 1 - pad_top;
  const int pad_right = right >= iw ? right - iw + 1 : 0;
  const int pad_bottom = bottom >= ih ? bottom - ih + 1 : 0;
  if ((iw + pad_left + pad_right - kw_eff) / s.stride_w + 1 != ow ||
      (ih + pad_top + pad_bottom - kh_eff) / s.stride_h + 1 != oh)
    return "output size does not follow from the padding";
  g->in_h = ih;
  g->in_w = iw;
  g->out_h = oh;
  g->out_w = ow;
  g->stride_h = s.stride_h;
  g->stride_w = s.stride_w;
  g->dilation_h = s.dilation_h;
  g->dilation_w = s.dilation_w;
  g->pad_top = pad_top;
  g->pad_left = pad_left;
  g->pad_bottom = pad_bottom;
  g->pad_right = pad_right;
  return std::string();
}

}  // namespace mnnbridge
}  // namespace sbnn
