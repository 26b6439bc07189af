#include "sparse_conv_execution.h"

#include <cmath>

#include "bridge_state.h"
#include "conv_executor.h"

namespace sbnn {
namespace mnnbridge {

bool AlignedBuffer::Reserve(size_t bytes) {
  if (bytes <= size_) return true;
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes) != 0) return false;
  std::free(data_);
  data_ = p;
  size_ = bytes;
  return true;
}

std::string CheckConvTensors(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  const auto& ex = mnnabi::exports();
  if (input->dimensions() != 4 || output->dimensions() != 4) return "tensors are not 4-D";
  if (ex.format_of(input) != mnnabi::kNC4HW4 || ex.format_of(output) != mnnabi::kNC4HW4)
    return "tensors are not in MNN's packed NC4HW4 layout";
  const auto& t = input->buffer().type;
  // Float tensors; in an fp16 backend they keep the float type and hold fp16 (MNN's bytes per element).
  if (t.code != 2 || t.bits != 32 || output->buffer().type.code != 2 || output->buffer().type.bits != 32)
    return "tensors are not float32";
  if (output->extent(0) != input->extent(0)) return "batch differs between input and output";
  return std::string();
}

mnnabi::ErrorCode ResizeOrFallBack(mnnabi::Execution* self, const mnnabi::Op* op, const std::string& what,
                                   const std::function<std::string()>& plan,
                                   std::unique_ptr<mnnabi::Execution>* fallback, const mnnabi::TensorList& inputs,
                                   const mnnabi::TensorList& outputs) {
  std::string why;
  if (inputs.size() != 1 || outputs.size() != 1) {
    why = "expected one input and one output";
  } else if (*fallback == nullptr) {
    why = plan();
  }
  if (!why.empty() && *fallback == nullptr) {
    Note(what + " runs on MNN's own execution for this shape: " + why);
    fallback->reset(self->backend()->OnCreate(inputs, outputs, op));
    if (*fallback == nullptr) return mnnabi::kNotSupport;
  }
  if (*fallback != nullptr) return (*fallback)->OnResize(inputs, outputs);
  return mnnabi::kNoError;
}

SparseConvExecution* SparseConvExecution::Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                                 const SparseConvSpec& spec, SessionThreads threads, bool fp16,
                                                 std::string* why) {
  std::vector<float> dense = DensifyWeights(spec);
  sbnn_pack_params params{};
  params.out_channels = spec.out_channels;
  params.in_channels = static_cast<int32_t>(spec.weight_size / (static_cast<uint64_t>(spec.out_channels) *
                                                                spec.kernel_h * spec.kernel_w));
  params.kernel_h = spec.kernel_h;
  params.kernel_w = spec.kernel_w;
  params.group_size = spec.group_size;
  params.output_min = ClampMin(spec);
  params.output_max = ClampMax(spec);
  params.isa = fp16 ? "neonfp16" : nullptr;
  sbnn_gsparse_weights* packed = nullptr;
  if (params.in_channels <= 0) {
    *why = "no input channels";
    return nullptr;
  }
  // The model's G says how the weights were pruned; they may run faster packed in larger
  // groups (a G=1 layer at low sparsity: as G=8, zeros stored).
  sbnn_status st = sbnn_gsparse_fastest_group(&params, dense.data(), &params.group_size);
  if (st == SBNN_OK)
    st = sbnn_gsparse_pack(&params, dense.data(), spec.bias.present() ? spec.bias.data : nullptr, &packed);
  if (st != SBNN_OK) {
    *why = std::string("the kernels refused the weights: ") + sbnn_status_string(st);
    return nullptr;
  }
  return new SparseConvExecution(cpu_backend, op, spec, threads, fp16, packed);
}

SparseConvExecution::SparseConvExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                         const SparseConvSpec& spec, SessionThreads threads, bool fp16,
                                         sbnn_gsparse_weights* packed)
    : Execution(cpu_backend), op_(op), spec_(spec), threads_(threads), packed_(packed), fp16_(fp16) {
  in_channels_ = static_cast<int32_t>(spec.weight_size /
                                      (static_cast<uint64_t>(spec.out_channels) * spec.kernel_h * spec.kernel_w));
  // Only geometry is needed after packing; drop views into the model buffer.
  spec_.alpha = VectorView<float>();
  spec_.index = VectorView<uint32_t>();
  spec_.bias = VectorView<float>();
  pads_.assign(spec.pads.data, spec.pads.data + spec.pads.size);
  spec_.pads = VectorView<int32_t>();
  sbnn_gsparse_info info{};
  CountConvCreated(sbnn_gsparse_get_info(packed_, &info) == SBNN_OK ? info.group_size : 0);
}

SparseConvExecution::~SparseConvExecution() { sbnn_gsparse_free(packed_); }

std::string SparseConvExecution::PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output) {
  if (std::string why = CheckConvTensors(input, output); !why.empty()) return why;
  const int n = input->extent(0), c = input->extent(1), ih = input->extent(2), iw = input->extent(3);
  const int oc = output->extent(1), oh = output->extent(2), ow = output->extent(3);
  if (oc != spec_.out_channels) return "output channels differ from outputCount";
  if (c != in_channels_) return "input channels differ from the weights' input channels";
  geometry_ = sbnn_conv_geometry{};
  geometry_.batch = n;
  if (std::string why = PlanConvPads(spec_, pads_, ih, iw, oh, ow, &geometry_); !why.empty()) return why;
  // 0 is the kernels' "cannot run this" (a real size is at least 64 bytes): hand the
  // op to MNN now rather than fail at execution.
  const size_t bytes = sbnn_gsparse_workspace_size(packed_, &geometry_, threads_.threads);
  if (bytes == 0) return "the kernels reject this geometry or thread count";
  if (!workspace_.Reserve(bytes)) return "out of memory for the kernels' workspace";
  return std::string();
}

mnnabi::ErrorCode SparseConvExecution::OnResize(const mnnabi::TensorList& inputs,
                                                const mnnabi::TensorList& outputs) {
  pack_ = fp16_ ? 8 : settings().pack.load();  // MNN's fp16 layout is NC8HW8
  return ResizeOrFallBack(this, op_, "conv '" + spec_.name + "'",
                          [&] { return PlanGeometry(inputs[0], outputs[0]); }, &fallback_, inputs, outputs);
}

mnnabi::ErrorCode SparseConvExecution::OnExecute(const mnnabi::TensorList& inputs,
                                                 const mnnabi::TensorList& outputs) {
  if (fallback_ != nullptr) return fallback_->OnExecute(inputs, outputs);
  float* input = inputs[0]->host_float();
  float* output = outputs[0]->host_float();
  if (input == nullptr || output == nullptr) {  // memory is only bound after resize
    Note("conv '" + spec_.name + "' has no host memory at execution");
    return mnnabi::kInvalidValue;
  }
  sbnn_tensor_layout layout{};
  layout.pack = pack_;  // MNN's default strides: [ceil(C/P)][N][H*W][P]
  ScopedConvExecutor executor(threads_.mnn_pool, threads_.threads,
                              settings().executor.load() == static_cast<int>(ExecutorKind::kMnnPool));
  sbnn_status st =
      fp16_ ? sbnn_gsparse_run_f16(packed_, &geometry_, reinterpret_cast<const uint16_t*>(input), &layout,
                                   reinterpret_cast<uint16_t*>(output), &layout, executor.get(), workspace_.data(),
                                   workspace_.size())
            : sbnn_gsparse_run(packed_, &geometry_, input, &layout, output, &layout, executor.get(), workspace_.data(),
                               workspace_.size());
  if (st != SBNN_OK) {
    Note("conv '" + spec_.name + "' failed in the kernels: " + sbnn_status_string(st));
    return mnnabi::kInvalidValue;
  }
  CountConvRun(executor.get()->num_threads);
  return mnnabi::kNoError;
}

}  // namespace mnnbridge
}  // namespace sbnn
