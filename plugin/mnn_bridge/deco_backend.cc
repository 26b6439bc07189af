#include "deco_backend.h"

#include <atomic>
#include <exception>

#include "bridge_state.h"
#include "deco_runtime.h"
#include "depthwise_execution.h"
#include "direct_conv_execution.h"
#include "pointwise_execution.h"

namespace sbnn {
namespace mnnbridge {
namespace {
// The vtable pointer of DecoBackend: tells our backends from MNN's without RTTI
// across library boundaries.
std::atomic<const void*> g_deco_vptr{nullptr};
}  // namespace

DecoBackend::DecoBackend(int32_t type, DecoRuntime* runtime, mnnabi::Backend* inner, SessionThreads threads,
                         bool fp16)
    : Backend(type), runtime_(runtime), inner_(inner), threads_(threads), fp16_(fp16) {
  g_deco_vptr.store(*reinterpret_cast<const void* const*>(this));
}

DecoBackend::~DecoBackend() { delete inner_; }

bool DecoBackend::IsDeco(const mnnabi::Backend* backend) {
  return backend != nullptr && *reinterpret_cast<const void* const*>(backend) == g_deco_vptr.load();
}

mnnabi::Execution* DecoBackend::OnCreate(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                                         const mnnabi::Op* op) {
  SparseConvSpec spec;
  try {
    if (op != nullptr && ReadSparseConv(op, &spec)) {
      const int in_channels = (inputs.size() == 1 && inputs[0]->dimensions() == 4) ? inputs[0]->extent(1) : -1;
      std::string why = ValidateSparseConv(spec, in_channels);
      if (why.empty()) {
        mnnabi::Execution* execution = SparseConvExecution::Create(inner_, op, spec, threads_, fp16_, &why);
        if (execution != nullptr) return execution;
      }
      Note("conv '" + spec.name + "' falls back to MNN's own execution: " + why);
    } else if (op != nullptr && !fp16_) {
      // fp32 sessions only: the dense kernels have no fp16 variants.
      if (mnnabi::Execution* execution = CreateDenseTakeover(op, &spec.name)) return execution;
    }
  } catch (const std::exception& e) {
    Note("conv '" + spec.name + "' falls back to MNN's own execution: " + e.what());
  } catch (...) {
    Note("conv '" + spec.name + "' falls back to MNN's own execution: unknown error");
  }
  return inner_->OnCreate(inputs, outputs, op);
}

// A dense op the bridge may take over (depthwise conv, direct conv with few input
// channels, dense 1x1 conv), or null: MNN's own execution runs it (a Note says why when the bridge
// wanted it but cannot). *name: the op's name once read (for the caller's notes).
mnnabi::Execution* DecoBackend::CreateDenseTakeover(const mnnabi::Op* op, std::string* name) {
  std::string why;
  DepthwiseSpec dw;
  if (TakeoverModeFromEnv(kDepthwiseEnv) != TakeoverMode::kOff && ReadDepthwiseConv(op, &dw, &why)) {
    *name = dw.conv.name;
    if (why.empty())
      if (mnnabi::Execution* execution = DepthwiseExecution::Create(inner_, op, dw, threads_, &why)) return execution;
    Note("depthwise conv '" + dw.conv.name + "' falls back to MNN's own execution: " + why);
    return nullptr;
  }
  DenseConvSpec dense;
  if (TakeoverModeFromEnv(kDirectConvEnv) != TakeoverMode::kOff &&
      ReadDenseConv(op, DenseConvKind::kDirect, &dense, &why)) {
    *name = dense.conv.name;
    if (why.empty())
      if (mnnabi::Execution* execution = DirectConvExecution::Create(inner_, op, dense, threads_, &why))
        return execution;
    Note("direct conv '" + dense.conv.name + "' falls back to MNN's own execution: " + why);
    return nullptr;
  }
  if (TakeoverModeFromEnv(kPointwiseEnv) != TakeoverMode::kOff &&
      ReadDenseConv(op, DenseConvKind::kPointwise, &dense, &why)) {
    *name = dense.conv.name;
    if (why.empty())
      if (mnnabi::Execution* execution = PointwiseExecution::Create(inner_, op, dense, threads_, &why))
        return execution;
    Note("pointwise conv '" + dense.conv.name + "' falls back to MNN's own execution: " + why);
  }
  return nullptr;
}

mnnabi::ErrorCode DecoBackend::OnResizeEnd() {
  mnnabi::ErrorCode code = inner_->OnResizeEnd();
  runtime_->SyncStatus();
  return code;
}

void DecoBackend::OnExecuteBegin() const {
  inner_->OnExecuteBegin();
  runtime_->SyncStatus();  // MNN checks the runtime's status right after this call
}

}  // namespace mnnbridge
}  // namespace sbnn
