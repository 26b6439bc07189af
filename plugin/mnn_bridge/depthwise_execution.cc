#include "depthwise_execution.h"

#include "bridge_state.h"

namespace sbnn {
namespace mnnbridge {

DepthwiseExecution* DepthwiseExecution::Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                               const DepthwiseSpec& spec, SessionThreads threads, std::string* why) {
  const SparseConvSpec& s = spec.conv;
  sbnn_dwconv_params params{};
  params.channels = s.out_channels;
  params.kernel_h = s.kernel_h;
  params.kernel_w = s.kernel_w;
  params.output_min = ClampMin(s);
  params.output_max = ClampMax(s);
  sbnn_dwconv_weights* packed = nullptr;
  sbnn_status st = sbnn_dwconv_pack(&params, spec.weight.data, s.bias.present() ? s.bias.data : nullptr, &packed);
  if (st != SBNN_OK) {
    *why = std::string("the kernels refused the weights: ") + sbnn_status_string(st);
    return nullptr;
  }
  return new DepthwiseExecution(cpu_backend, op, spec, threads, packed);
}

DepthwiseExecution::DepthwiseExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DepthwiseSpec& spec,
                                       SessionThreads threads, sbnn_dwconv_weights* packed)
    : DenseTakeover(cpu_backend, op, spec.conv, threads, DenseOp::kDepthwise, "depthwise conv", kDepthwiseEnv),
      packed_(packed) {}

DepthwiseExecution::~DepthwiseExecution() { sbnn_dwconv_free(packed_); }

std::string DepthwiseExecution::Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  const int c = geometry_spec_.out_channels;
  if (std::string why = PlanGeometry(input, output, c, c); !why.empty()) return why;
  const size_t bytes = sbnn_dwconv_workspace_size(packed_, &geometry_, pack_, threads_.threads);
  if (bytes == 0) return "the kernels reject this geometry, channel pack or thread count";
  if (!workspace_.Reserve(bytes)) return "out of memory for the kernels' workspace";
  return std::string();
}

mnnabi::ErrorCode DepthwiseExecution::RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  return RunKernel(inputs, outputs,
                   [&](const float* in, const sbnn_tensor_layout& l, float* out, const sbnn_executor* ex) {
                     return sbnn_dwconv_run(packed_, &geometry_, in, &l, out, &l, ex, workspace_.data(),
                                            workspace_.size());
                   });
}

}  // namespace mnnbridge
}  // namespace sbnn
