#include "pointwise_execution.h"

#include "bridge_state.h"

namespace sbnn {
namespace mnnbridge {
namespace {
// Groups of 8 output channels: the x86 kernels' fastest tile at 0 % (8 x 48 pixels on
// AVX-512, 2 x 4 x 24 on AVX2; x86 speed tables, s = 0 rows).
constexpr int32_t kDenseGroup = 8;
}  // namespace

PointwiseExecution* PointwiseExecution::Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                               const DenseConvSpec& spec, SessionThreads threads, std::string* why) {
  const SparseConvSpec& s = spec.conv;
  sbnn_pack_params params{};
  params.out_channels = s.out_channels;
  params.in_channels = s.in_channels;
  params.kernel_h = s.kernel_h;
  params.kernel_w = s.kernel_w;
  params.group_size = kDenseGroup;
  params.output_min = ClampMin(s);
  params.output_max = ClampMax(s);
  sbnn_gsparse_weights* packed = nullptr;
  sbnn_status st = sbnn_gsparse_pack(&params, spec.weight.data, s.bias.present() ? s.bias.data : nullptr, &packed);
  if (st != SBNN_OK) {
    *why = std::string("the kernels refused the weights: ") + sbnn_status_string(st);
    return nullptr;
  }
  return new PointwiseExecution(cpu_backend, op, spec, threads, packed);
}

PointwiseExecution::PointwiseExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                       const DenseConvSpec& spec, SessionThreads threads,
                                       sbnn_gsparse_weights* packed)
    : DenseTakeover(cpu_backend, op, spec.conv, threads, DenseOp::kPointwise, "pointwise conv", kPointwiseEnv),
      packed_(packed) {}

PointwiseExecution::~PointwiseExecution() { sbnn_gsparse_free(packed_); }

std::string PointwiseExecution::Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  if (std::string why = PlanGeometry(input, output, geometry_spec_.in_channels, geometry_spec_.out_channels);
      !why.empty())
    return why;
  const size_t bytes = sbnn_gsparse_workspace_size(packed_, &geometry_, threads_.threads);
  if (bytes == 0) return "the kernels reject this geometry or thread count";
  if (!workspace_.Reserve(bytes)) return "out of memory for the kernels' workspace";
  return std::string();
}

mnnabi::ErrorCode PointwiseExecution::RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  return RunKernel(inputs, outputs,
                   [&](const float* in, const sbnn_tensor_layout& l, float* out, const sbnn_executor* ex) {
                     return sbnn_gsparse_run(packed_, &geometry_, in, &l, out, &l, ex, workspace_.data(),
                                             workspace_.size());
                   });
}

}  // namespace mnnbridge
}  // namespace sbnn
