// An MNN Execution that runs one group-sparse convolution with the SparseByteNN
// kernels. It is constructed on the wheel's own CPU backend, so MNN allocates
// its tensors as for any CPU op (NC{P}HW{P}, no copies). Shapes the kernels
// cannot run make it hand the op to MNN's own execution instead.
#ifndef SBNN_MNN_BRIDGE_SPARSE_CONV_EXECUTION_H_
#define SBNN_MNN_BRIDGE_SPARSE_CONV_EXECUTION_H_

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mnn_abi/backend.h"
#include "mnn_abi/exports.h"
#include "sparse_conv_spec.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {

// Scratch memory for the kernels, 64-byte aligned.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  bool Reserve(size_t bytes);  // keeps the buffer when it is big enough
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Threading of the session the execution belongs to.
struct SessionThreads {
  int threads = 1;
  mnnabi::ThreadPool* mnn_pool = nullptr;  // null: the kernels' pool
};

// Empty when input and output are 4-D float32 tensors in MNN's NC4HW4 layout with
// the same batch; otherwise why not.
std::string CheckConvTensors(const mnnabi::Tensor* input, const mnnabi::Tensor* output);

// OnResize of both executions: `plan` (called with one input and one output, until
// MNN's execution took over) says why the kernels cannot run these tensors, empty when
// they can. On the first refusal MNN's own execution is created on the CPU backend (a
// Note names `what`) and runs the op from then on. kNoError: ours runs.
mnnabi::ErrorCode ResizeOrFallBack(mnnabi::Execution* self, const mnnabi::Op* op, const std::string& what,
                                   const std::function<std::string()>& plan,
                                   std::unique_ptr<mnnabi::Execution>* fallback, const mnnabi::TensorList& inputs,
                                   const mnnabi::TensorList& outputs);

class SparseConvExecution : public mnnabi::Execution {
 public:
  // Packs the weights (fp16: for the fp16 kernels, run on MNN's fp16 NC8HW8 tensors);
  // returns null and sets *why when the kernels refuse them.
  static SparseConvExecution* Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op,
                                     const SparseConvSpec& spec, SessionThreads threads, bool fp16, std::string* why);
  ~SparseConvExecution() override;

  mnnabi::ErrorCode OnResize(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;
  mnnabi::ErrorCode OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;

 private:
  SparseConvExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const SparseConvSpec& spec,
                      SessionThreads threads, bool fp16, sbnn_gsparse_weights* packed);
  // Empty when the kernels can run these tensors; fills geometry_.
  std::string PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output);

  // Handed to MNN only at a resize, to create its own execution. Valid then: MNN 3.6.1
  // resizes only while the model buffer lives (Interpreter::resizeSession refuses after
  // releaseModel; the Module API keeps its buffer, or its own op copies, for good).
  const mnnabi::Op* op_;
  SparseConvSpec spec_;  // views point into the model buffer; only geometry is reused
  SessionThreads threads_;
  sbnn_gsparse_weights* packed_;
  sbnn_conv_geometry geometry_{};
  int32_t in_channels_;
  std::vector<int32_t> pads_;  // copied: the model buffer may be released after resize
  int pack_ = 8;
  bool fp16_;
  AlignedBuffer workspace_;
  std::unique_ptr<mnnabi::Execution> fallback_;  // MNN's own execution, when needed
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_SPARSE_CONV_EXECUTION_H_
