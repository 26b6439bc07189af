// An MNN Execution for ConvolutionDepthwise ops (OpType 13) in fp32 sessions, run
// by the kernels' sbnn_dwconv_* on MNN's NC8HW8 tensors; taken where measured
// faster than MNN's own (SPARSEBYTENN_DWCONV, measured_execution.h).
#ifndef SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_
#define SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_

#include <string>

#include "measured_execution.h"
#include "sparse_conv_execution.h"
#include "sparsebytenn/dwconv.h"

namespace sbnn {
namespace mnnbridge {

class DepthwiseExecution : public DenseTakeover {
 public:
  // Null with *why set when the kernels refuse the weights.
  static DepthwiseExecution* Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DepthwiseSpec& spec,
                                    SessionThreads threads, std::string* why);
  ~DepthwiseExecution() override;

 private:
  DepthwiseExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DepthwiseSpec& spec,
                     SessionThreads threads, sbnn_dwconv_weights* packed);
  std::string Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) override;
  mnnabi::ErrorCode RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;

  sbnn_dwconv_weights* packed_;
  AlignedBuffer workspace_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_
