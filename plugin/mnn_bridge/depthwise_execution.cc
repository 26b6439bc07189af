#include "depthwise_execution.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bridge_state.h"
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

DepthwiseMode DepthwiseModeFromEnv() {
  const char* env = std::getenv("SPARSEBYTENN_DWCONV");
  if (env != nullptr && std::strcmp(env, "on") == 0) return DepthwiseMode::kOn;
  if (env != nullptr && std::strcmp(env, "off") == 0) return DepthwiseMode::kOff;
  // auto: the ISAs with SIMD depthwise kernels, each op measured against MNN's own
  // execution in its first runs. Those kernels measured faster than MNN 3.6.1's
  // (AVX2) depthwise on every MobileNet-V1 layer on an Intel Xeon (AVX-512,
  // 2026-12-07): avx512 1.53-2.25x per layer, avx2 1.16-1.76x
  // (docs/results/dwconv-mobilenet-v1.md); not on Zen 4, hence the measurement.
  // ref and the ARM / WASM ISAs have no fast depthwise kernels: MNN keeps those ops.
  const char* isa = sbnn_default_isa();
  return std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0 ? DepthwiseMode::kMeasure
                                                                          : DepthwiseMode::kOff;
}

double DepthwiseMargin() {
  const char* env = std::getenv("SPARSEBYTENN_DWCONV_MARGIN");
  if (env == nullptr) return 1.0;
  char* end = nullptr;
  const double m = std::strtod(env, &end);
  return (end != env && *end == '\0' && m > 0 && std::isfinite(m)) ? m : 1.0;
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
    : Execution(cpu_backend),
      op_(op),
      geometry_spec_(spec.conv),
      threads_(threads),
      packed_(packed),
      mode_(DepthwiseModeFromEnv()),
      margin_(DepthwiseMargin()) {
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
  if (measured_slower_) fallback_.reset();  // a new shape is measured afresh
  measured_slower_ = false;
  contender_.reset();
  trials_ = 0;
  ours_s_ = mnn_s_ = 0.0;
  const mnnabi::ErrorCode code =
      ResizeOrFallBack(this, op_, "depthwise conv '" + geometry_spec_.name + "'",
                       [&] { return PlanGeometry(inputs[0], outputs[0]); }, &fallback_, inputs, outputs);
  if (code != mnnabi::kNoError || fallback_ != nullptr || mode_ != DepthwiseMode::kMeasure) return code;
  // MNN's own execution of the op, resized alongside ours (its buffers are planned
  // now, with everyone's), to be timed against ours in the first runs.
  contender_.reset(backend()->OnCreate(inputs, outputs, op_));
  if (contender_ != nullptr && contender_->OnResize(inputs, outputs) != mnnabi::kNoError) contender_.reset();
  return mnnabi::kNoError;
}

mnnabi::ErrorCode DepthwiseExecution::OnExecute(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
  if (fallback_ != nullptr) return fallback_->OnExecute(inputs, outputs);
  if (contender_ != nullptr) return Trial(inputs, outputs);
  return RunOurs(inputs, outputs);
}

// Both executions run (in alternating order: neither always meets a cold input);
// the first trial warms up, the next kTrials - 1 are timed. Then the slower one
// goes: MNN's becomes the op's execution when ours is not margin times faster
// (least times compared: 3 summed runs of one op flipped 1-4 of MobileNet-V1's 13
// depthwise ops to MNN on a quiet machine where ours is 1.5-2.3x faster per layer).
mnnabi::ErrorCode DepthwiseExecution::Trial(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
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
      Note("depthwise conv '" + geometry_spec_.name + "': MNN's own execution failed while being timed; ours runs it");
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
    Note("depthwise conv '" + geometry_spec_.name + "' left to MNN's own execution: " +
         (margin_ == 1.0 ? "measured faster on this machine (" + times + ")"
                         : "ours not SPARSEBYTENN_DWCONV_MARGIN=" + FormatMargin(margin_) + " times faster (" + times +
                               ")"));
    fallback_ = std::move(contender_);
    measured_slower_ = true;
  } else {
    contender_.reset();
  }
  return mnnabi::kNoError;
}

mnnabi::ErrorCode DepthwiseExecution::RunOurs(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs) {
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
