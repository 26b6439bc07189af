// The bridge's dense takeovers (depthwise convs, direct convs with few input
// channels, dense 1x1 convs): ops MNN runs well, which the bridge takes where its kernels are the
// faster on this machine. One per family environment variable says how:
//   <VAR>=on      ours whenever the kernels can run the op
//   <VAR>=off     MNN keeps every such op
//   <VAR>=auto    (or unset) kMeasure on the ISAs with SIMD kernels for them (avx512,
//                 avx2), else off: each op runs both ours and MNN's own execution in
//                 its first kTrials runs after a resize and keeps the faster
//   <VAR>_MARGIN=M (default 1): under auto, ours keeps an op only when MNN's
//                 measured time is at least M times ours.
// Like SparseConvExecution, built on the wheel's CPU backend; a shape the kernels
// cannot run goes to MNN's own execution.
#ifndef SBNN_MNN_BRIDGE_MEASURED_EXECUTION_H_
#define SBNN_MNN_BRIDGE_MEASURED_EXECUTION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bridge_state.h"
#include "mnn_abi/backend.h"
#include "sparse_conv_execution.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {

enum class TakeoverMode { kOff, kOn, kMeasure };
TakeoverMode TakeoverModeFromEnv(const char* var);
double TakeoverMargin(const char* var);  // <var>_MARGIN

constexpr const char* kDepthwiseEnv = "SPARSEBYTENN_DWCONV";
constexpr const char* kDirectConvEnv = "SPARSEBYTENN_DCONV";
constexpr const char* kPointwiseEnv = "SPARSEBYTENN_PWCONV";

// RunOurs of the dense takeovers: MNN's tensors' host memory in layout NC{pack}HW{pack},
// the session's threads, the kernel's status checked (a Note names `what` on failure),
// the run counted for `op`.
using DenseKernelRun =
    std::function<sbnn_status(const float* in, const sbnn_tensor_layout& layout, float* out, const sbnn_executor* ex)>;
mnnabi::ErrorCode RunOnHostTensors(const std::string& what, DenseOp op, const SessionThreads& threads, int pack,
                                   const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                                   const DenseKernelRun& run);

// The shape half of a dense takeover's Plan: MNN's tensors as the kernels read them
// (CheckConvTensors), `in_channels` / `out_channels` as the op's, and *g filled for their
// sizes (PlanConvPads). Empty, or why the kernels cannot run them.
std::string PlanDenseGeometry(const SparseConvSpec& spec, const std::vector<int32_t>& pads, int in_channels,
                              int out_channels, const mnnabi::Tensor* input, const mnnabi::Tensor* output,
                              sbnn_conv_geometry* g);

class MeasuredExecution : public mnnabi::Execution {
 public:
  mnnabi::ErrorCode OnResize(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) final;
  mnnabi::ErrorCode OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) final;

 protected:
  // what: the op as notes name it ("depthwise conv 'x'"); env: the family's variable.
  MeasuredExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, std::string what, const char* env);
  // Empty when the kernels can run these tensors (and ready to), else why not.
  virtual std::string Plan(const mnnabi::Tensor* input, const mnnabi::Tensor* output) = 0;
  virtual mnnabi::ErrorCode RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) = 0;
  const std::string& what() const { return what_; }

 private:
  mnnabi::ErrorCode Trial(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs);

  static constexpr int kTrials = 6;  // runs timing both: one warm-up, five measured

  const mnnabi::Op* op_;  // for MNN's own execution, at a resize only (see SparseConvExecution)
  const std::string what_;
  const std::string env_;
  const TakeoverMode mode_;
  const double margin_;
  std::unique_ptr<mnnabi::Execution> fallback_;
  std::unique_ptr<mnnabi::Execution> contender_;  // MNN's execution while being timed
  bool measured_slower_ = false;  // fallback_ is MNN's because it measured faster
  int trials_ = 0;
  double ours_s_ = 0.0, mnn_s_ = 0.0;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_MEASURED_EXECUTION_H_
