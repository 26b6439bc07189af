#include "depthwise_execution.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "bridge_state.h"
#include "conv_executor.h"

namespace sbnn {
namespace mnnbridge {

bool DepthwiseWanted() {
  const char* env = std::getenv("SPARSEBYTENN_DWCONV");
  if (env != nullptr && std::strcmp(env, "on") == 0) return true;
  if (env != nullptr && std::strcmp(env, "off") == 0) return false;
  // auto: the ISAs whose kernels measured faster than MNN 3.6.1's own (AVX2)
  // depthwise on every MobileNet-V1 depthwise layer, 1 thread, interleaved rounds:
  // Intel Xeon (AVX-512, 2026-12-07, load 5): avx512 1.53-2.25x per layer (1.97x all
  // 13), avx2 1.16-1.76x (1.45x); EfficientNet-Lite0 alike; docs/results/
  // dwconv-mobilenet-v1.md. ref and the ARM /
  // WASM ISAs have no fast depthwise kernels: MNN keeps those ops. Not measured on
  // Zen 4 (AVX-512 on 256-bit units); set SPARSEBYTENN_DWCONV=off there if slower.
  const char* isa = sbnn_default_isa();
  return std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0;
}

DepthwiseExecution* DepthwiseExecution::Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                               const DepthwiseSpec& spec, SessionThreads threads, std::string* why) {
  const SparseConvSpec& s = spec.conv;
  sbnn_dwconv_params params{};
  params.channels = s.out_channels;
  params.kernel_h = s.kernel_h;
  params.kernel_w = s.kernel_w;
  params.output_min = (s.relu || s.relu6) ? 0.0f : -INFINITY;
  params.output_max = s.relu6 ? 6.0f : INFINITY;
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
    : Execution(cpu_backend), op_(op), geometry_spec_(spec.conv), threads_(threads), packed_(packed) {
  pads_.assign(spec.conv.pads.data, spec.conv.pads.data + spec.conv.pads.size);
  geometry_spec_.pads = VectorView<int32_t>();
  geometry_spec_.bias = VectorView<float>();
  CountDepthwiseCreated();
}

DepthwiseExecution::~DepthwiseExecution() { sbnn_dwconv_free(packed_); }

std::string DepthwiseExecution::PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  if (std::string why = CheckConvTensors(input, output); !why.empty()) return why;
  const int c = input->extent(1);
  if (c != geometry_spec_.out_channels || output->extent(1) != c)
    return "input / output channels differ from the op's " + std::to_string(geometry_spec_.out_channels);
  geometry_ = sbnn_conv_geometry{};
  geometry_.batch = input->extent(0);
  if (std::string why = PlanConvPads(geometry_spec_, pads_, input->extent(2), input->extent(3), output->extent(2),
                                     output->extent(3), &geometry_);
      !why.empty())
    return why;
  const size_t bytes = sbnn_dwconv_workspace_size(packed_, &geometry_, pack_, threads_.threads);
  if (bytes == 0) return "the kernels reject this geometry, channel pack or thread count";
  if (!workspace_.Reserve(bytes)) return "out of memory for the kernels' workspace";
  return std::string();
}

mnnabi::ErrorCode DepthwiseExecution::OnResize(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  pack_ = settings().pack.load();
  return ResizeOrFallBack(this, op_, "depthwise conv '" + geometry_spec_.name + "'",
                          [&] { return PlanGeometry(inputs[0], outputs[0]); }, &fallback_, inputs, outputs);
}

mnnabi::ErrorCode DepthwiseExecution::OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  if (fallback_ != nullptr) return fallback_->OnExecute(inputs, outputs);
  const float* input = inputs[0]->host_float();
  float* output = outputs[0]->host_float();
  if (input == nullptr || output == nullptr) {
    Note("depthwise conv '" + geometry_spec_.name + "' has no host memory at execution");
    return mnnabi::kInvalidValue;
  }
  sbnn_tensor_layout layout{};
  layout.pack = pack_;
  ScopedConvExecutor executor(threads_.mnn_pool, threads_.threads,
                              settings().executor.load() == static_cast<int>(ExecutorKind::kMnnPool));
  sbnn_status st = sbnn_dwconv_run(packed_, &geometry_, input, &layout, output, &layout, executor.get(),
                                   workspace_.data(), workspace_.size());
  if (st != SBNN_OK) {
    Note("depthwise conv '" + geometry_spec_.name + "' failed in the kernels: " + sbnn_status_string(st));
    return mnnabi::kInvalidValue;
  }
  CountDepthwiseRun();
  return mnnabi::kNoError;
}

}  // namespace mnnbridge
}  // namespace sbnn
