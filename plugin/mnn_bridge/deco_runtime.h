// DecoRuntime wraps the wheel's own CPU runtime and delegates to it; its
// backends are DecoBackends. DecoCreator is what MNN's creator map holds.
#ifndef SBNN_MNN_BRIDGE_DECO_RUNTIME_H_
#define SBNN_MNN_BRIDGE_DECO_RUNTIME_H_

#include "mnn_abi/backend.h"

namespace sbnn {
namespace mnnbridge {

class DecoRuntime : public mnnabi::Runtime {
 public:
  DecoRuntime(int32_t type, mnnabi::Runtime* inner, int threads);
  ~DecoRuntime() override;
  mnnabi::Runtime* inner() const { return inner_; }

  CompilerType OnGetCompilerType() const override { return inner_->OnGetCompilerType(); }
  mnnabi::Backend* OnCreate(const mnnabi::BackendConfig* config, mnnabi::Backend* origin) const override;
  void OnReset(int num_thread, const mnnabi::BackendConfig* config, bool full) override;
  void OnGarbageCollect(int level) override { inner_->OnGarbageCollect(level); }
  float OnGetMemoryInMB() override { return inner_->OnGetMemoryInMB(); }
  bool OnSetCachePath(const char* path, int mode) override { return inner_->OnSetCachePath(path, mode); }
  bool OnSetCache(const void* buffer, size_t size) override { return inner_->OnSetCache(buffer, size); }
  std::pair<const void*, size_t> OnGetCache() override { return inner_->OnGetCache(); }
  int OnGetRuntimeStatus(int status) const override { return inner_->OnGetRuntimeStatus(status); }
  bool OnCheckInfo(mnnabi::BackendInfo& info) const override { return inner_->OnCheckInfo(info); }
  bool OnMeasure(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs, const mnnabi::Op* op,
                 OpInfo& info) const override {
    return inner_->OnMeasure(inputs, outputs, op, info);
  }
  void OnMaskOpReady(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                     const mnnabi::Op* op) override {
    inner_->OnMaskOpReady(inputs, outputs, op);
  }
  void OnConcurrencyBegin() const override { inner_->OnConcurrencyBegin(); }
  void OnConcurrencyEnd() const override { inner_->OnConcurrencyEnd(); }
  float OnGetLastGpuTimeMs() const override { return inner_->OnGetLastGpuTimeMs(); }

  // Mirrors the inner runtime's status, which MNN reads on this object.
  void SyncStatus() const { current_status_ = inner_->current_status_; }

 private:
  int32_t type_;
  mnnabi::Runtime* inner_;  // owned
  int threads_;
};

class DecoCreator : public mnnabi::RuntimeCreator {
 public:
  explicit DecoCreator(int32_t type) : type_(type) {}
  mnnabi::Runtime* OnCreate(const mnnabi::BackendInfo& info) const override;
  bool OnValid(mnnabi::BackendInfo& info) const override;
  bool OnGetDeviceInfo(const std::string& key, std::string& value) const override;
  bool OnSetQuantInfo(const mnnabi::Op* op, const mnnabi::TensorList& inputs,
                      const mnnabi::TensorList& outputs) const override;

 private:
  int32_t type_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_DECO_RUNTIME_H_
