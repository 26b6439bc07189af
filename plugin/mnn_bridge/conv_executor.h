// Where a sparse conv's parallel tasks run: on MNN's own ThreadPool (whose
// workers already spin while a session runs) or on the kernels' built-in pool.
#ifndef SBNN_MNN_BRIDGE_CONV_EXECUTOR_H_
#define SBNN_MNN_BRIDGE_CONV_EXECUTOR_H_

#include "mnn_abi/exports.h"
#include "sparsebytenn/gsparse.h"

namespace sbnn {
namespace mnnbridge {

// One use per sbnn_gsparse_run call: borrows a free task slot of MNN's pool if
// there is one, else falls back to the kernels' pool.
class ScopedConvExecutor {
 public:
  // pool may be null (1 thread, or MNN's pool not usable for this session).
  ScopedConvExecutor(mnnabi::ThreadPool* pool, int threads, bool prefer_mnn_pool);
  ~ScopedConvExecutor();
  ScopedConvExecutor(const ScopedConvExecutor&) = delete;
  ScopedConvExecutor& operator=(const ScopedConvExecutor&) = delete;
  const sbnn_executor* get() const { return &executor_; }
  bool uses_mnn_pool() const { return slot_ >= 0; }

 private:
  static void ParallelFor(void* self, int32_t num_tasks, sbnn_task_fn task, void* task_ctx);
  mnnabi::ThreadPool* pool_;
  int slot_ = -1;
  sbnn_executor executor_;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_CONV_EXECUTOR_H_
