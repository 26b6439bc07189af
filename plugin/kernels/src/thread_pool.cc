#include "thread_pool.h"

#if defined(SBNN_NO_THREADS)

namespace sbnn {
void default_parallel_for(void*, int32_t num_tasks, sbnn_task_fn task, void* task_ctx) {
  for (int32_t i = 0; i < num_tasks; ++i) task(task_ctx, i);
}
}  // namespace sbnn

#else

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SBNN_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SBNN_CPU_RELAX() asm volatile("yield")
#else
#define SBNN_CPU_RELAX() ((void)0)
#endif

namespace sbnn {
namespace {

// After a job, workers spin this long for the next one before blocking. A
// blocked worker on a VM needs tens of microseconds (a halted vCPU) to wake up,
// which is the whole runtime of a small conv; a network runs its convs back to
// back, so a short spin keeps them hot without burning a core when idle.
constexpr auto kSpin = std::chrono::microseconds(300);

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
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    task(task_ctx, 0);
    // Workers finish within one conv: spin briefly, then yield the core.
    for (int spins = 0; remaining_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) SBNN_CPU_RELAX();
      else std::this_thread::yield();
    }
  }

 private:
  void grow(int32_t workers) {
    while (static_cast<int32_t>(threads_) < workers) {
      const int32_t index = static_cast<int32_t>(++threads_);
      const uint64_t seen = generation_.load(std::memory_order_acquire);
      std::thread([this, index, seen] { worker(index, seen); }).detach();
    }
  }

  // Waits until the generation differs from `seen`: spin first, then block.
  uint64_t wait_for_job(uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
      const uint64_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      SBNN_CPU_RELAX();
      if ((i & 63) == 63) {
        // Give the core away now and then: when threads outnumber free cores
        // (another process, or pinning), the thread we wait for may need it.
        std::this_thread::yield();
        if (std::chrono::steady_clock::now() > until) break;
      }
    }
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
    return generation_.load(std::memory_order_acquire);
  }

  void worker(int32_t index, uint64_t seen) {
    for (;;) {
      wait_for_job(seen);
      sbnn_task_fn task;
      void* ctx;
      int32_t n;
      {
        // The job fields are written under mutex_; reading them under it too
        // pairs every generation with its own job.
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_.load(std::memory_order_relaxed);
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
  std::atomic<uint64_t> generation_{0};
  std::atomic<int32_t> sleepers_{0};
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
