#include "conv_executor.h"

namespace sbnn {
namespace mnnbridge {

ScopedConvExecutor::ScopedConvExecutor(mnnabi::ThreadPool* pool, int threads, bool prefer_mnn_pool)
    : pool_(pool) {
  executor_.parallel_for = nullptr;  // the kernels' built-in pool
  executor_.executor_ctx = nullptr;
  executor_.num_threads = threads < 1 ? 1 : threads;
  if (threads > 1 && pool_ != nullptr && prefer_mnn_pool) {
    // MNN's pool has two task slots; the running session holds one. Another
    // session running at the same moment may hold the other.
    slot_ = mnnabi::exports().pool_acquire_index(pool_);
    if (slot_ >= 0) {
      executor_.parallel_for = &ScopedConvExecutor::ParallelFor;
      executor_.executor_ctx = this;
    }
  }
}

ScopedConvExecutor::~ScopedConvExecutor() {
  if (slot_ >= 0) mnnabi::exports().pool_release_index(pool_, slot_);
}

void ScopedConvExecutor::ParallelFor(void* self_ptr, int32_t num_tasks, sbnn_task_fn task, void* task_ctx) {
  auto* self = static_cast<ScopedConvExecutor*>(self_ptr);
  mnnabi::PoolTask pool_task(std::function<void(int)>([task, task_ctx](int i) { task(task_ctx, i); }),
                             num_tasks);
  // Runs task 0 on this thread and the rest on MNN's spinning workers; runs all
  // serially here when the pool is not active (outside a session run).
  mnnabi::exports().pool_enqueue(self->pool_, &pool_task, self->slot_);
}

}  // namespace mnnbridge
}  // namespace sbnn
