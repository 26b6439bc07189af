// An MNN Execution for dense Convolution ops with few input channels (a network's
// first conv) in fp32 sessions, run by the kernels' sbnn_dconv_* on MNN's NC8HW8
// tensors; taken where measured faster than MNN's own (SPARSEBYTENN_DCONV,
// measured_execution.h).
#ifndef SBNN_MNN_BRIDGE_DIRECT_CONV_EXECUTION_H_
#define SBNN_MNN_BRIDGE_DIRECT_CONV_EXECUTION_H_

#include <string>

#include "measured_execution.h"
#include "sparse_conv_execution.h"
#include "sparsebytenn/dconv.h"

namespace sbnn {
namespace mnnbridge {

class DirectConvExecution : public DenseTakeover {
 public:
  // Null with *why set when the kernels refuse the weights.
  static DirectConvExecution* Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DenseConvSpec& spec,
                                     SessionThreads threads, std::string* why);
  ~DirectConvExecution() override;

 private:
  DirectConvExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DenseConvSpec& spec,
                      SessionThreads threads, sbnn_dconv_weights* packed);
  std::string Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) override;
  mnnabi::ErrorCode RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;

  sbnn_dconv_weights* packed_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_DIRECT_CONV_EXECUTION_H_
