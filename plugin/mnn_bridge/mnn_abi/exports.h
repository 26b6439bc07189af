// The handful of functions the MNN 3.6.1 wheel exports that the bridge calls.
// They are looked up by their mangled names with dlsym() on the already-loaded
// _mnncengine, so the bridge has no link-time dependency on MNN and binds to
// exactly the engine Python loaded (and checksummed).
#ifndef SBNN_MNN_ABI_EXPORTS_H_
#define SBNN_MNN_ABI_EXPORTS_H_

#include <functional>
#include <string>
#include <utility>

#include "mnn_abi/backend.h"

namespace sbnn {
namespace mnnabi {

// MNN::ThreadPool is opaque; its TASK is pair<function<void(int)>, count>.
struct ThreadPool;
typedef std::pair<std::function<void(int)>, int> PoolTask;

struct Exports {
  // MNN::MNNGetExtraRuntimeCreator(MNNForwardType)
  const RuntimeCreator* (*get_runtime_creator)(int type) = nullptr;
  // MNN::MNNInsertExtraRuntimeCreator(MNNForwardType, const RuntimeCreator*, bool needCheck)
  bool (*insert_runtime_creator)(int type, const RuntimeCreator* creator, bool need_check) = nullptr;
  // MNN::TensorUtils::getDescribe(const Tensor*) -> NativeInsideDescribe*
  const void* (*tensor_describe)(const Tensor* tensor) = nullptr;
  // MNN::ThreadPool::init(int threads, unsigned long cpuMask, ThreadPool*& out) (static)
  int (*pool_init)(int threads, unsigned long cpu_mask, ThreadPool** out) = nullptr;
  // Non-virtual members take `this` first (Itanium C++ ABI).
  void (*pool_enqueue)(ThreadPool* self, PoolTask* task, int index) = nullptr;
  int (*pool_acquire_index)(ThreadPool* self) = nullptr;
  void (*pool_release_index)(ThreadPool* self, int index) = nullptr;

  // Data format of a tensor (NCHW / NHWC / NC4HW4 ...): first field of the describe.
  DataFormat format_of(const Tensor* t) const {
    return *static_cast<const DataFormat*>(tensor_describe(t));
  }
};

// Binds all symbols from the engine at `engine_path` (must already be loaded).
// Returns false and fills *error when any is missing.
bool BindExports(const char* engine_path, Exports* out, std::string* error);

// The bound exports; valid after a successful sbnn_mnn_bind().
const Exports& exports();

}  // namespace mnnabi
}  // namespace sbnn

#endif  // SBNN_MNN_ABI_EXPORTS_H_
