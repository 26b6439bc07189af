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

// A dense takeover's kernel call on MNN's tensors' host memory (layout NC{pack}HW{pack})
// with the session's threads.
using DenseKernelRun =
    std::function<sbnn_status(const float* in, const sbnn_tensor_layout& layout, float* out, const sbnn_executor* ex)>;

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

// What the three dense takeovers share: the op's geometry (no views into the model
// buffer), its pads and the session's threads; per resize, MNN's channel pack and the
// kernels' geometry for the tensors; every run on the host tensors, counted for `op`.
class DenseTakeover : public MeasuredExecution {
 protected:
  DenseTakeover(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const SparseConvSpec& conv,
                SessionThreads threads, DenseOp kind, const std::string& what, const char* env);
  // The shape half of Plan: MNN's tensors as the kernels read them (CheckConvTensors),
  // `in_channels` / `out_channels` as the op's; sets pack_ and geometry_ (PlanConvPads).
  // Empty, or why the kernels cannot run them.
  std::string PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output, int in_channels,
                           int out_channels);
  // RunOurs: the kernel's status checked (a Note names the op on failure), the run counted.
  mnnabi::ErrorCode RunKernel(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                              const DenseKernelRun& run);

  const SparseConvSpec geometry_spec_;
  const SessionThreads threads_;
  sbnn_conv_geometry geometry_{};
  int pack_ = 8;

 private:
  const std::vector<int32_t> pads_;
  const DenseOp kind_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_MEASURED_EXECUTION_H_
