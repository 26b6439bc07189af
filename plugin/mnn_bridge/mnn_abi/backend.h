// Our own declarations of the four MNN 3.6.1 polymorphic interfaces the bridge
// implements or calls: Execution, Backend, Runtime and RuntimeCreator. What
// must match the wheel exactly is the order and signatures of the virtual
// functions (the vtable) and the data members MNN's inline code touches; both
// are written here from the facts and checked with static_asserts. Method names
// are ours. Requires the pre-C++11 std::string ABI (-D_GLIBCXX_USE_CXX11_ABI=0):
// Backend and RuntimeHint hold std::string members that MNN's own code reads.
#ifndef SBNN_MNN_ABI_BACKEND_H_
#define SBNN_MNN_ABI_BACKEND_H_

#include <atomic>
#include <cstddef>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "mnn_abi/tensor.h"

#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
#error "the MNN 3.6.1 wheel uses the old libstdc++ string ABI: build with -D_GLIBCXX_USE_CXX11_ABI=0"
#endif

namespace sbnn {
namespace mnnabi {

struct Op;  // a flatbuffers table inside the model; read with op_reader.h
class Backend;
class Execution;
typedef std::vector<Tensor*> TensorList;

// Backend::Info (24 bytes): forward type, thread count, user config, mode.
struct BackendInfo {
  int32_t type = kForwardCpu;
  int32_t num_thread = 4;
  BackendConfig* user = nullptr;
  int32_t mode = 0;
};
static_assert(sizeof(BackendInfo) == 24, "Backend::Info");

class Execution {
 public:
  explicit Execution(Backend* backend) : backend_(backend) {}
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;
  // Vtable order: dtor (2 slots), onResize, onExecute, onClone.
  virtual ~Execution() = default;
  virtual ErrorCode OnResize(const TensorList& inputs, const TensorList& outputs) { return kNoError; }
  virtual ErrorCode OnExecute(const TensorList& inputs, const TensorList& outputs) = 0;
  virtual bool OnClone(Backend* backend, const Op* op, Execution** dst) { return false; }
  Backend* backend() const { return backend_; }

 protected:
  bool valid_ = true;
  bool need_alloc_io_ = true;

 private:
  Backend* backend_;
};
static_assert(sizeof(Execution) == 24, "MNN::Execution");

class Runtime;

class Backend {
 public:
  class MemObj;  // opaque: owned and interpreted by the backend that made it
  enum StorageType : int32_t { kStatic = 0, kDynamic = 1, kDynamicSeparate = 2, kDynamicInExecution = 3 };
  enum MapType : int32_t {};
  enum DimensionType : int32_t {};

  explicit Backend(int32_t type) : type_(type) {}
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  // Vtable order (16 slots): dtor x2, onCreate, onResizeBegin, onResizeEnd,
  // onExecuteBegin, onExecuteEnd, getRuntime, onAcquire, onSelectDynamicAllocator,
  // onGetTensorInfo, onClearBuffer, onCopyBuffer, onMapTensor, onUnmapTensor, onSync.
  virtual ~Backend() = default;
  virtual Execution* OnCreate(const TensorList& inputs, const TensorList& outputs, const Op* op) = 0;
  virtual void OnResizeBegin() {}
  virtual ErrorCode OnResizeEnd() = 0;
  virtual void OnExecuteBegin() const = 0;
  virtual void OnExecuteEnd() const = 0;
  virtual const Runtime* GetRuntime() { return nullptr; }
  virtual MemObj* OnAcquire(const Tensor* tensor, StorageType storage) = 0;
  virtual bool OnSelectDynamicAllocator(int index, int max_index) { return false; }
  virtual bool OnGetTensorInfo(const Tensor* tensor, void* dst_info) { return false; }
  virtual bool OnClearBuffer() = 0;
  virtual void OnCopyBuffer(const Tensor* src, const Tensor* dst) const = 0;
  virtual void* OnMapTensor(MapType map_type, DimensionType dim_type, const Tensor* src) { return nullptr; }
  virtual bool OnUnmapTensor(MapType map_type, DimensionType dim_type, const Tensor* dst, void* map_ptr) {
    return false;
  }
  virtual int OnSync(MapType map_type, bool to_cpu, const Tensor* dst) { return 0; }

  int32_t type() const { return type_; }

  std::string npu_model_dir_ = ".";  // read by MNN's NPU code only; layout filler
  const int32_t type_;    // read by MNN's inline type()
  void* meta_ = nullptr;  // set by MNN's inline setMetaPtr()
};
static_assert(offsetof(Backend, type_) == 16, "Backend::mType");
static_assert(sizeof(std::string) == 8, "old (COW) std::string ABI required");
static_assert(sizeof(Backend) == 32, "MNN::Backend is 32 bytes with the old string ABI");

// RuntimeHint: copied by value by MNN's inline Runtime::setRuntimeHint(), so
// every member must be laid out exactly; we only ever copy it as a whole.
struct RuntimeHint {
  int32_t memory_allocator_type = 0;
  int32_t winograd_memory_used = 3;
  int32_t cpu_decrease_rate = 50;
  int32_t dynamic_quant_option = 0;
  int32_t attention_option = 8;
  int32_t kvcache_size_limit = -1;
  std::string kvcache_dir_path = "";
  std::string prefixcache_dir_path = "prefixcache";
  std::string mid_memory_path;
  std::string weight_memory_path;
  int32_t mmap_file_size = 1024;
  int32_t use_cached_mmap = 0;
  int32_t encoder_num_for_commit = 10;
  int32_t init_thread_number = 0;
  bool use_arm_sme2_cores = true;
  bool enable_kleidi_ai = false;
  std::vector<int> cpu_ids;
  int32_t division_ratio = 41;
  int32_t sme_cores = 2;
};
static_assert(sizeof(RuntimeHint) == 112, "MNN::RuntimeHint is 112 bytes with the old string ABI");
static_assert(offsetof(RuntimeHint, cpu_ids) == 80, "RuntimeHint::cpuIds");

class Runtime {
 public:
  enum CompilerType : int32_t { kGeometry = 0, kOrigin = 1, kLoop = 2 };
  struct OpInfo {
    bool init_cost_long;
    float execution_cost;
    float init_cost;
  };
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Vtable order (17 slots): onGetCompilerType comes BEFORE the destructor.
  virtual CompilerType OnGetCompilerType() const { return kLoop; }
  virtual ~Runtime() = default;
  virtual Backend* OnCreate(const BackendConfig* config, Backend* origin) const = 0;
  virtual void OnReset(int num_thread, const BackendConfig* config, bool full) {}
  virtual void OnGarbageCollect(int level) = 0;
  virtual float OnGetMemoryInMB() { return 0.0f; }
  virtual bool OnSetCachePath(const char* path, int mode) { return false; }
  virtual bool OnSetCache(const void* buffer, size_t size) { return true; }
  virtual std::pair<const void*, size_t> OnGetCache() { return std::make_pair(nullptr, 0); }
  virtual int OnGetRuntimeStatus(int status) const { return 0; }
  virtual bool OnCheckInfo(BackendInfo& info) const { return true; }
  virtual bool OnMeasure(const TensorList& inputs, const TensorList& outputs, const Op* op,
                         OpInfo& info) const {
    return true;
  }
  virtual void OnMaskOpReady(const TensorList& inputs, const TensorList& outputs, const Op* op) {}
  virtual void OnConcurrencyBegin() const {}
  virtual void OnConcurrencyEnd() const {}
  virtual float OnGetLastGpuTimeMs() const { return -1.0f; }

  const RuntimeHint& hint() const { return hint_; }
  void set_hint(const RuntimeHint& hint) { hint_ = hint; }

  // Public members MNN's code reads and writes directly on any Runtime.
  std::atomic_bool cancelled_{false};
  mutable int current_status_ = 0;
  mutable int execution_status_ = 0;
  void* meta_ = nullptr;

  // MNN-private below (public only so the layout can be checked); never touch.
  std::future<int> future_;
  RuntimeHint hint_;
};
static_assert(sizeof(std::future<int>) == 16, "std::future<int>");
static_assert(sizeof(Runtime) == 160, "MNN::Runtime is 160 bytes with the old string ABI");
static_assert(offsetof(Runtime, cancelled_) == 8, "Runtime::mCancelled");
static_assert(offsetof(Runtime, current_status_) == 12, "Runtime::pCurrentStatus");
static_assert(offsetof(Runtime, meta_) == 24, "Runtime::pMeta");
static_assert(offsetof(Runtime, hint_) == 48, "Runtime::mHint");

class RuntimeCreator {
 public:
  // Vtable order (6 slots): dtor x2, onCreate, onValid, onGetDeviceInfo, onSetQuantInfo.
  virtual ~RuntimeCreator() = default;
  virtual Runtime* OnCreate(const BackendInfo& info) const = 0;
  virtual bool OnValid(BackendInfo& info) const {
    info.mode = 0;
    return true;
  }
  virtual bool OnGetDeviceInfo(const std::string& key, std::string& value) const { return false; }
  virtual bool OnSetQuantInfo(const Op* op, const TensorList& inputs, const TensorList& outputs) const {
    return false;
  }

 protected:
  RuntimeCreator() = default;
};
static_assert(sizeof(RuntimeCreator) == 8, "MNN::RuntimeCreator");

}  // namespace mnnabi
}  // namespace sbnn

#endif  // SBNN_MNN_ABI_BACKEND_H_
