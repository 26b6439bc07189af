#include "direct_conv_execution.h"

#include "bridge_state.h"

namespace sbnn {
namespace mnnbridge {

DirectConvExecution* DirectConvExecution::Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                                 const DenseConvSpec& spec, SessionThreads threads,
                                                 std::string* why) {
  const SparseConvSpec& s = spec.conv;
  sbnn_dconv_params params{};
  params.out_channels = s.out_channels;
  params.in_channels = s.in_channels;
  params.kernel_h = s.kernel_h;
  params.kernel_w = s.kernel_w;
  params.output_min = ClampMin(s);
  params.output_max = ClampMax(s);
  sbnn_dconv_weights* packed = nullptr;
  sbnn_status st = sbnn_dconv_pack(&params, spec.weight.data, s.bias.present() ? s.bias.data : nullptr, &packed);
  if (st != SBNN_OK) {
    *why = std::string("the kernels refused the weights: ") + sbnn_status_string(st);
    return nullptr;
  }
  return new DirectConvExecution(cpu_backend, op, spec, threads, packed);
}

DirectConvExecution::DirectConvExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                         const DenseConvSpec& spec, SessionThreads threads,
                                         sbnn_dconv_weights* packed)
    : DenseTakeover(cpu_backend, op, spec.conv, threads, DenseOp::kDirectConv, "direct conv", kDirectConvEnv),
      packed_(packed) {}

DirectConvExecution::~DirectConvExecution() { sbnn_dconv_free(packed_); }

std::string DirectConvExecution::Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  if (std::string why = PlanGeometry(input, output, geometry_spec_.in_channels, geometry_spec_.out_channels);
      !why.empty())
    return why;
  // The SIMD variants run NC8HW8 only; any other pack would fail every run.
  sbnn_dconv_info info{};
  if (sbnn_dconv_get_info(packed_, &info) != SBNN_OK || (info.lanes > 1 && pack_ != 8))
    return "the kernels run MNN's 8-channel pack only, this CPU backend uses " + std::to_string(pack_);
  return std::string();
}

mnnabi::ErrorCode DirectConvExecution::RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  return RunKernel(inputs, outputs,
                   [&](const float* in, const sbnn_tensor_layout& l, float* out, const sbnn_executor* ex) {
                     return sbnn_dconv_run(packed_, &geometry_, in, &l, out, &l, ex);
                   });
}

}  // namespace mnnbridge
}  // namespace sbnn
