// An MNN Execution for ConvolutionDepthwise ops (OpType 13) in fp32 sessions, run
// by the kernels' sbnn_dwconv_* on MNN's NC8HW8 tensors. Like SparseConvExecution
// it is built on the wheel's CPU backend and hands a shape it cannot run to MNN's
// own execution. Whether the bridge takes depthwise ops at all: DepthwiseModeFromEnv().
#ifndef SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_
#define SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_

#include <memory>
#include <string>
#include <vector>

#include "sparse_conv_execution.h"
#include "sparsebytenn/dwconv.h"

namespace sbnn {
namespace mnnbridge {

// SPARSEBYTENN_DWCONV: "on" (take every depthwise op the kernels can run), "off",
// or "auto"/unset (kMeasure on the ISAs with SIMD depthwise kernels, avx512 and
// avx2, else kOff): each op runs both ours and MNN's own execution in its first
// kTrials runs after a resize and keeps the faster, measured on this machine.
enum class DepthwiseMode { kOff, kOn, kMeasure };
DepthwiseMode DepthwiseModeFromEnv();

// SPARSEBYTENN_DWCONV_MARGIN=M (default 1): under auto, ours keeps an op only when
// MNN's measured time is at least M times ours.
double DepthwiseMargin();

class DepthwiseExecution : public mnnabi::Execution {
 public:
  // Null with *why set when the kernels refuse the weights.
  static DepthwiseExecution* Create(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DepthwiseSpec& spec,
                                    SessionThreads threads, std::string* why);
  ~DepthwiseExecution() override;

  mnnabi::ErrorCode OnResize(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;
  mnnabi::ErrorCode OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) override;

 private:
  DepthwiseExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const DepthwiseSpec& spec,
                     SessionThreads threads, sbnn_dwconv_weights* packed);
  std::string PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output);
  mnnabi::ErrorCode Trial(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs);
  mnnabi::ErrorCode RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs);

  static constexpr int kTrials = 6;  // runs timing both: one warm-up, five measured

  const mnnabi::Op* op_;  // for MNN's own execution, at a resize only (see SparseConvExecution)
  SparseConvSpec geometry_spec_;  // geometry fields only (no views into the model buffer)
  std::vector<int32_t> pads_;
  SessionThreads threads_;
  sbnn_dwconv_weights* packed_;
  sbnn_conv_geometry geometry_{};
  int pack_ = 8;
  AlignedBuffer workspace_;
  std::unique_ptr<mnnabi::Execution> fallback_;
  const DepthwiseMode mode_;
  const double margin_;
  std::unique_ptr<mnnabi::Execution> contender_;  // MNN's execution while being timed
  bool measured_slower_ = false;  // fallback_ is MNN's because it measured faster
  int trials_ = 0;
  double ours_s_ = 0.0, mnn_s_ = 0.0;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_DEPTHWISE_EXECUTION_H_
