#include "deco_runtime.h"

#include <algorithm>

#include "bridge_state.h"
#include "deco_backend.h"
#include "mnn_abi/exports.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {
namespace {
// On aarch64, MNN 3.6.1's CPU runtime answers precision=low on a CPU with FP16
// arithmetic with its ARMv8.2 backend, the only one of type CPU_EXTENSION there
// (fp16 tensors, NC8HW8); without FP16 it stays a plain CPU backend (type CPU).
bool ComputesInFp16(const mnnabi::Backend* cpu) {
#if defined(__aarch64__)
  return cpu->type() == mnnabi::kForwardCpuExtension && sbnn_isa_available("neonfp16");
#else
  (void)cpu;
  return false;  // x86 wheels run precision=low in fp32
#endif
}
}  // namespace

DecoRuntime::DecoRuntime(int32_t type, mnnabi::Runtime* inner, int threads)
    : type_(type), inner_(inner), threads_(threads) {}

DecoRuntime::~DecoRuntime() { delete inner_; }

void DecoRuntime::OnReset(int num_thread, const mnnabi::BackendConfig* config, bool full) {
  inner_->set_hint(hint());
  inner_->OnReset(num_thread, config, full);
  threads_ = num_thread;
}

mnnabi::Backend* DecoRuntime::OnCreate(const mnnabi::BackendConfig* config, mnnabi::Backend* origin) const {
  // MNN sets hints and meta on this object; the CPU runtime reads its own copies.
  inner_->set_hint(hint());
  inner_->meta_ = meta_;
  mnnabi::Backend* inner_origin = DecoBackend::IsDeco(origin) ? static_cast<DecoBackend*>(origin)->inner() : origin;
  mnnabi::Backend* cpu = inner_->OnCreate(config, inner_origin);
  if (cpu == nullptr) return nullptr;
  const bool low_precision = config != nullptr && (config->precision == mnnabi::BackendConfig::kLow ||
                                                   config->precision == mnnabi::BackendConfig::kLowBF16);
  const bool fp16 = low_precision && ComputesInFp16(cpu);
  if (fp16 ? !settings().f16_ok.load() : low_precision && !settings().low_precision_ok.load()) return cpu;
  try {
    mnnabi::BackendInfo info;
    info.num_thread = threads_;
    inner_->OnCheckInfo(info);  // the thread count the CPU runtime really uses
    SessionThreads threads;
    threads.threads = std::max(1, info.num_thread);
    // MNN's pool is keyed by CPU mask; it is 0 unless CPU ids or a power mode
    // select cores, in which case we would create a second pool: use our own.
    if (threads.threads > 1 && hint().cpu_ids.empty() && (config == nullptr || config->power == 0)) {
      mnnabi::ThreadPool* pool = nullptr;
      int got = mnnabi::exports().pool_init(threads.threads, 0, &pool);
      if (pool != nullptr && got >= 2) {
        threads.mnn_pool = pool;
        threads.threads = std::min(threads.threads, got);
      }
    }
    return new DecoBackend(type_, const_cast<DecoRuntime*>(this), cpu, threads, fp16);
  } catch (...) {
    return cpu;
  }
}

mnnabi::Runtime* DecoCreator::OnCreate(const mnnabi::BackendInfo& info) const {
  const mnnabi::RuntimeCreator* cpu = mnnabi::exports().get_runtime_creator(mnnabi::kForwardCpu);
  if (cpu == nullptr) return nullptr;
  mnnabi::BackendInfo cpu_info = info;
  cpu_info.type = mnnabi::kForwardCpu;
  mnnabi::Runtime* inner = cpu->OnCreate(cpu_info);
  // Not armed (probe pending or failed): sessions get MNN's own CPU runtime.
  if (inner == nullptr || !settings().armed.load()) return inner;
  try {
    return new DecoRuntime(type_, inner, info.num_thread);
  } catch (...) {
    return inner;
  }
}

bool DecoCreator::OnValid(mnnabi::BackendInfo& info) const {
  const mnnabi::RuntimeCreator* cpu = mnnabi::exports().get_runtime_creator(mnnabi::kForwardCpu);
  if (cpu == nullptr) return false;
  const int32_t type = info.type;
  bool ok = cpu->OnValid(info);
  info.type = type;
  return ok;
}

bool DecoCreator::OnGetDeviceInfo(const std::string& key, std::string& value) const {
  const mnnabi::RuntimeCreator* cpu = mnnabi::exports().get_runtime_creator(mnnabi::kForwardCpu);
  return cpu != nullptr && cpu->OnGetDeviceInfo(key, value);
}

bool DecoCreator::OnSetQuantInfo(const mnnabi::Op* op, const mnnabi::TensorList& inputs,
                                 const mnnabi::TensorList& outputs) const {
  const mnnabi::RuntimeCreator* cpu = mnnabi::exports().get_runtime_creator(mnnabi::kForwardCpu);
  return cpu != nullptr && cpu->OnSetQuantInfo(op, inputs, outputs);
}

}  // namespace mnnbridge
}  // namespace sbnn
