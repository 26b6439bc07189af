// An MNN Execution for dense 1x1 Convolution ops (more input channels than the direct
// conv kernels take) in fp32 sessions, run by the group-sparse kernels with every unit
// kept on MNN's NC{P}HW{P} tensors; taken where measured faster than MNN's own
// (SPARSEBYTENN_PWCONV, measured_execution.h). On AVX-512 our 1x1 kernels at 0 %
// sparsity beat the wheel's dense conv (speed tables, s = 0 rows), so the layers a
// conversion leaves dense, and every 1x1 conv of a dense model, can gain too.
#ifndef SBNN_MNN_BRIDGE_POINTWISE_EXECUTION_H_
#define SBNN_MNN_BRIDGE_POINTWISE_EXECUTION_H_

#include <string>

#include "measured_execution.h"
#include "sparse_conv_execution.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {

class PointwiseExecution : public DenseTakeover {
 public:
  // Null with *why set when the kernels refuse the weights.
  static PointwiseExecution* Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DenseConvSpec& spec,
                                    SessionThreads threads, std::string* why);
  ~PointwiseExecution() override;

 private:
  PointwiseExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DenseConvSpec& spec,
                     SessionThreads threads, sbnn_gsparse_weights* packed);
  std::string Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) override;
  mnnabi::ErrorCode RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;

  sbnn_gsparse_weights* packed_;
  AlignedBuffer workspace_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_POINTWISE_EXECUTION_H_
