#include "mnn_abi/exports.h"

#include <dlfcn.h>

namespace sbnn {
namespace mnnabi {
namespace {

Exports g_exports;

template <typename F>
bool Bind(void* handle, const char* mangled, F* slot, std::string* error) {
  void* sym = dlsym(handle, mangled);
  if (sym == nullptr) {
    *error = std::string("symbol missing from the MNN engine: ") + mangled;
    return false;
  }
  *slot = reinterpret_cast<F>(sym);
  return true;
}

}  // namespace

bool BindExports(const char* engine_path, Exports* out, std::string* error) {
  // RTLD_NOLOAD: only accept the engine that is already in the process.
  void* handle = dlopen(engine_path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (handle == nullptr) {
    *error = std::string("MNN engine is not loaded in this process: ") + engine_path;
    return false;
  }
  Exports e;
  bool ok = Bind(handle, "_ZN3MNN25MNNGetExtraRuntimeCreatorE14MNNForwardType", &e.get_runtime_creator, error) &&
            Bind(handle, "_ZN3MNN28MNNInsertExtraRuntimeCreatorE14MNNForwardTypePKNS_14RuntimeCreatorEb",
                 &e.insert_runtime_creator, error) &&
            Bind(handle, "_ZN3MNN11TensorUtils11getDescribeEPKNS_6TensorE", &e.tensor_describe, error) &&
            Bind(handle, "_ZN3MNN10ThreadPool4initEimRPS0_", &e.pool_init, error) &&
            Bind(handle, "_ZN3MNN10ThreadPool7enqueueEPSt4pairISt8functionIFviEEiEi", &e.pool_enqueue, error) &&
            Bind(handle, "_ZN3MNN10ThreadPool16acquireWorkIndexEv", &e.pool_acquire_index, error) &&
            Bind(handle, "_ZN3MNN10ThreadPool16releaseWorkIndexEi", &e.pool_release_index, error);
  // The handle keeps a reference on the engine for the life of the process,
  // which is what we want: our creator stays registered inside it.
  if (!ok) return false;
  *out = e;
  g_exports = e;
  return true;
}

const Exports& exports() { return g_exports; }

}  // namespace mnnabi
}  // namespace sbnn
