// The decorator pair at the heart of the bridge. DecoRuntime wraps the wheel's
// own CPU runtime; each DecoBackend wraps a CPU backend that runtime made.
// Everything is delegated, except that Convolution ops carrying sparse
// metadata get a SparseConvExecution (built on the inner CPU backend).
#ifndef SBNN_MNN_BRIDGE_DECO_BACKEND_H_
#define SBNN_MNN_BRIDGE_DECO_BACKEND_H_

#include "mnn_abi/backend.h"
#include "sparse_conv_execution.h"

namespace sbnn {
namespace mnnbridge {

class DecoRuntime;

class DecoBackend : public mnnabi::Backend {
 public:
  // fp16: the inner backend computes in fp16 (precision=low on ARMv8.2), so are the executions.
  DecoBackend(int32_t type, DecoRuntime* runtime, mnnabi::Backend* inner, SessionThreads threads, bool fp16);
  ~DecoBackend() override;
  static bool IsDeco(const mnnabi::Backend* backend);
  mnnabi::Backend* inner() const { return inner_; }

  mnnabi::Execution* OnCreate(const mnnabi::TensorList& inputs, const mnnabi::TensorList& outputs,
                              const mnnabi::Op* op) override;
  void OnResizeBegin() override { inner_->OnResizeBegin(); }
  mnnabi::ErrorCode OnResizeEnd() override;
  void OnExecuteBegin() const override;
  void OnExecuteEnd() const override { inner_->OnExecuteEnd(); }
  const mnnabi::Runtime* GetRuntime() override { return inner_->GetRuntime(); }
  MemObj* OnAcquire(const mnnabi::Tensor* tensor, StorageType storage) override {
    return inner_->OnAcquire(tensor, storage);
  }
  bool OnSelectDynamicAllocator(int index, int max_index) override {
    return inner_->OnSelectDynamicAllocator(index, max_index);
  }
  bool OnGetTensorInfo(const mnnabi::Tensor* tensor, void* dst_info) override {
    return inner_->OnGetTensorInfo(tensor, dst_info);
  }
  bool OnClearBuffer() override { return inner_->OnClearBuffer(); }
  void OnCopyBuffer(const mnnabi::Tensor* src, const mnnabi::Tensor* dst) const override {
    inner_->OnCopyBuffer(src, dst);
  }
  void* OnMapTensor(MapType map_type, DimensionType dim_type, const mnnabi::Tensor* src) override {
    return inner_->OnMapTensor(map_type, dim_type, src);
  }
  bool OnUnmapTensor(MapType map_type, DimensionType dim_type, const mnnabi::Tensor* dst, void* ptr) override {
    return inner_->OnUnmapTensor(map_type, dim_type, dst, ptr);
  }
  int OnSync(MapType map_type, bool to_cpu, const mnnabi::Tensor* dst) override {
    return inner_->OnSync(map_type, to_cpu, dst);
  }

 private:
  mnnabi::Execution* CreateDenseTakeover(const mnnabi::Op* op, std::string* name);

  DecoRuntime* runtime_;
  mnnabi::Backend* inner_;  // owned
  SessionThreads threads_;
  bool fp16_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_DECO_BACKEND_H_
