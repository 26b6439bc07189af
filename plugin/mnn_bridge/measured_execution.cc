#include "measured_execution.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "conv_executor.h"

namespace sbnn {
namespace mnnbridge {
namespace {
std::string FormatMs(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", seconds * 1e3);
  return buf;
}
std::string FormatMargin(double m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", m);
  return buf;
}
}  // namespace

TakeoverMode TakeoverModeFromEnv(const char* var) {
  const char* env = std::getenv(var);
  if (env != nullptr && std::strcmp(env, "on") == 0) return TakeoverMode::kOn;
  if (env != nullptr && std::strcmp(env, "off") == 0) return TakeoverMode::kOff;
  // auto: the ISAs with SIMD kernels for these ops, each op measured against MNN's
  // own execution in its first runs (docs/results/dwconv-mobilenet-v1.md: faster on
  // every MobileNet-V1 depthwise layer on an Intel Xeon, not on Zen 4, hence the
  // measurement). ref and the ARM / WASM ISAs have none: MNN keeps those ops.
  const char* isa = sbnn_default_isa();
  return std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0 ? TakeoverMode::kMeasure
                                                                          : TakeoverMode::kOff;
}

double TakeoverMargin(const char* var) {
  const char* env = std::getenv((std::string(var) + "_MARGIN").c_str());
  if (env == nullptr) return 1.0;
  char* end = nullptr;
  const double m = std::strtod(env, &end);
  return (end != env && *end == '\0' && m > 0 && std::isfinite(m)) ? m : 1.0;
}

MeasuredExecution::MeasuredExecution(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, std::string what,
                                     const char* env)
    : Execution(cpu_backend),
      op_(op),
      what_(std::move(what)),
      env_(env),
      mode_(TakeoverModeFromEnv(env)),
      margin_(TakeoverMargin(env)) {}

mnnabi::ErrorCode MeasuredExecution::OnResize(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  if (measured_slower_) fallback_.reset();  // a new shape is measured afresh
  measured_slower_ = false;
  contender_.reset();
  trials_ = 0;
  ours_s_ = mnn_s_ = 0.0;
  const mnnabi::ErrorCode code = ResizeOrFallBack(this, op_, what_, [&] { return Plan(inputs[0], outputs[0]); },
                                                  &fallback_, inputs, outputs);
  if (code != mnnabi::kNoError || fallback_ != nullptr || mode_ != TakeoverMode::kMeasure) return code;
  // MNN's own execution of the op, resized alongside ours (its buffers are planned
  // now, with everyone's), to be timed against ours in the first runs.
  contender_.reset(backend()->OnCreate(inputs, outputs, op_));
  if (contender_ != nullptr && contender_->OnResize(inputs, outputs) != mnnabi::kNoError) contender_.reset();
  return mnnabi::kNoError;
}

mnnabi::ErrorCode MeasuredExecution::OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  if (fallback_ != nullptr) return fallback_->OnExecute(inputs, outputs);
  if (contender_ != nullptr) return Trial(inputs, outputs);
  return RunOurs(inputs, outputs);
}

// Both executions run (in alternating order: neither always meets a cold input);
// the first trial warms up, the next kTrials - 1 are timed. Then the slower one
// goes: MNN's becomes the op's execution when ours is not margin times faster
// (least times compared: 3 summed runs of one op flipped 1-4 of MobileNet-V1's 13
// depthwise ops to MNN on a quiet machine where ours is 1.5-2.3x faster per layer).
mnnabi::ErrorCode MeasuredExecution::Trial(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  using Clock = std::chrono::steady_clock;
  const bool mnn_first = trials_ % 2 == 0;
  double ours = 0.0, mnn = 0.0;
  for (int k = 0; k < 2; ++k) {
    const bool run_mnn = (k == 0) == mnn_first;
    const Clock::time_point t0 = Clock::now();
    const mnnabi::ErrorCode code = run_mnn ? contender_->OnExecute(inputs, outputs) : RunOurs(inputs, outputs);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (code != mnnabi::kNoError) {
      if (!run_mnn) return code;
      Note(what_ + ": MNN's own execution failed while being timed; ours runs it");
      contender_.reset();
      return k == 0 ? RunOurs(inputs, outputs) : mnnabi::kNoError;
    }
    (run_mnn ? mnn : ours) = s;
  }
  if (trials_ > 0) {  // the least of the timed runs: a run another process or an
    ours_s_ = trials_ == 1 ? ours : std::min(ours_s_, ours);   // interrupt slowed down
    mnn_s_ = trials_ == 1 ? mnn : std::min(mnn_s_, mnn);       // says nothing of the op
  }
  if (++trials_ < kTrials) return mnnabi::kNoError;
  if (mnn_s_ < ours_s_ * margin_) {
    const std::string times = "MNN " + FormatMs(mnn_s_) + " ms, ours " + FormatMs(ours_s_) + " ms, least of " +
                              std::to_string(kTrials - 1) + " runs";
    Note(what_ + " left to MNN's own execution: " +
         (margin_ == 1.0 ? "measured faster on this machine (" + times + ")"
                         : "ours not " + env_ + "_MARGIN=" + FormatMargin(margin_) + " times faster (" + times +
                               ")"));
    fallback_ = std::move(contender_);
    measured_slower_ = true;
  } else {
    contender_.reset();
  }
  return mnnabi::kNoError;
}

DenseTakeover::DenseTakeover(mnnabi::Backend* cpu_backend, const mnnabi::Op* op, const SparseConvSpec& conv,
                             SessionThreads threads, DenseOp kind, const std::string& what, const char* env)
    : MeasuredExecution(cpu_backend, op, what + " '" + conv.name + "'", env),
      geometry_spec_(GeometryOnly(conv)),
      threads_(threads),
      pads_(conv.pads.data, conv.pads.data + conv.pads.size),
      kind_(kind) {
  CountDenseCreated(kind);
}

std::string DenseTakeover::PlanGeometry(const mnnabi::Tensor* input, const mnnabi::Tensor* output, int in_channels,
                                        int out_channels) {
  pack_ = settings().pack.load();
  if (std::string why = CheckConvTensors(input, output); !why.empty()) return why;
  if (input->extent(1) != in_channels) return "input channels differ from the op's " + std::to_string(in_channels);
  if (output->extent(1) != out_channels)
    return "output channels differ from the op's " + std::to_string(out_channels);
  geometry_ = sbnn_conv_geometry{};
  geometry_.batch = input->extent(0);
  return PlanConvPads(geometry_spec_, pads_, input->extent(2), input->extent(3), output->extent(2),
                      output->extent(3), &geometry_);
}

mnnabi::ErrorCode DenseTakeover::RunKernel(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                                           const DenseKernelRun& run) {
  const float* input = inputs[0]->host_float();
  float* output = outputs[0]->host_float();
  if (input == nullptr || output == nullptr) {
    Note(what() + " has no host memory at execution");
    return mnnabi::kInvalidValue;
  }
  sbnn_tensor_layout layout{};
  layout.pack = pack_;
  ScopedConvExecutor executor(threads_.mnn_pool, threads_.threads,
                              settings().executor.load() == static_cast<int>(ExecutorKind::kMnnPool));
  const sbnn_status st = run(input, layout, output, executor.get());
  if (st != SBNN_OK) {
    Note(what() + " failed in the kernels: " + sbnn_status_string(st));
    return mnnabi::kInvalidValue;
  }
  CountDenseRun(kind_);
  return mnnabi::kNoError;
}

}  // namespace mnnbridge
}  // namespace sbnn
