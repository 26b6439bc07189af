#include "thread_pool.h"

#if defined(SBNN_NO_THREADS)

namespace sbnn {
void default_parallel_for(void*, int32_t num_tasks, sbnn_task_fn task, void* task_ctx) {
  for (int32_t i = 0; i < num_tasks; ++i) task(task_ctx, i);
}
}  // namespace sbnn

#else

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sbnn {
namespace {

class Pool {
 public:
  void run(int32_t num_tasks, sbnn_task_fn task, void* task_ctx) {
    std::lock_guard<std::mutex> one_job_at_a_time(run_mutex_);
    grow(num_tasks - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      task_ctx_ = task_ctx;
      num_tasks_ = num_tasks;
      remaining_.store(num_tasks - 1, std::memory_order_relaxed);
      ++generation_;
    }
    wake_.notify_all();
    task(task_ctx, 0);
    // Workers finish within one conv; a yielding wait keeps the core available.
    while (remaining_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

 private:
  void grow(int32_t workers) {
    while (static_cast<int32_t>(threads_) < workers) {
      const int32_t index = static_cast<int32_t>(++threads_);
      uint64_t seen;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_;
      }
      std::thread([this, index, seen] { worker(index, seen); }).detach();
    }
  }

  void worker(int32_t index, uint64_t seen) {
    for (;;) {
      sbnn_task_fn task;
      void* ctx;
      int32_t n;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        task = task_;
        ctx = task_ctx_;
        n = num_tasks_;
      }
      if (index < n) {
        task(ctx, index);
        remaining_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_;
  uint64_t generation_ = 0;
  sbnn_task_fn task_ = nullptr;
  void* task_ctx_ = nullptr;
  int32_t num_tasks_ = 0;
  std::atomic<int32_t> remaining_{0};
  size_t threads_ = 0;
};

}  // namespace

void default_parallel_for(void*, int32_t num_tasks, sbnn_task_fn task, void* task_ctx) {
  if (num_tasks <= 1) {
    if (num_tasks == 1) task(task_ctx, 0);
    return;
  }
  // Leaked on purpose: detached workers may outlive static destruction.
  static Pool* pool = new Pool();
  pool->run(num_tasks, task, task_ctx);
}

}  // namespace sbnn
#endif
