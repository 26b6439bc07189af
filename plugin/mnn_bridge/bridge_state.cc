#include "bridge_state.h"

#include <cstdio>
#include <deque>
#include <mutex>
#include <set>

namespace sbnn {
namespace mnnbridge {
namespace {

thread_local int64_t t_created = 0;
constexpr int kGroupSizes[] = {1, 2, 4, 8, 16};
thread_local int64_t t_created_by_group[5] = {};
int GroupSlot(int group_size) {
  for (int i = 0; i < 5; ++i)
    if (kGroupSizes[i] == group_size) return i;
  return -1;
}
thread_local int64_t t_runs = 0;
thread_local int64_t t_run_threads = 0;
std::atomic<int64_t> g_created{0};
std::atomic<int64_t> g_runs{0};
thread_local int64_t t_dense_created[kDenseOpKinds] = {};
thread_local int64_t t_dense_runs[kDenseOpKinds] = {};
std::atomic<int64_t> g_dense_runs[kDenseOpKinds] = {};

// Notes are kept per thread: MNN creates and resizes a session's executions on the
// thread that asks, so a host reading its own thread's notes around createSession or
// resizeSession gets that session's notes and no other thread's.
thread_local std::deque<std::string> t_notes;  // bounded: the oldest are dropped
thread_local int64_t t_notes_dropped = 0;
constexpr size_t kMaxNotes = 1000;
std::mutex g_print_mutex;
std::set<std::string> g_printed;  // each distinct note reaches stderr once per process

}  // namespace

BridgeSettings& settings() {
  static BridgeSettings s;
  return s;
}

void CountConvCreated(int packed_group) {
  ++t_created;
  if (const int slot = GroupSlot(packed_group); slot >= 0) ++t_created_by_group[slot];
  g_created.fetch_add(1, std::memory_order_relaxed);
}
void CountConvRun(int threads) {
  ++t_runs;
  t_run_threads += threads;
  g_runs.fetch_add(1, std::memory_order_relaxed);
}
int64_t ThreadConvsCreated() { return t_created; }
int64_t ThreadConvsPacked(int group_size) {
  const int slot = GroupSlot(group_size);
  return slot < 0 ? -1 : t_created_by_group[slot];
}
int64_t ThreadConvRuns() { return t_runs; }
int64_t ThreadConvThreads() { return t_run_threads; }
int64_t TotalConvsCreated() { return g_created.load(); }
int64_t TotalConvRuns() { return g_runs.load(); }
void CountDenseCreated(DenseOp op) { ++t_dense_created[static_cast<int>(op)]; }
void CountDenseRun(DenseOp op) {
  ++t_dense_runs[static_cast<int>(op)];
  g_dense_runs[static_cast<int>(op)].fetch_add(1, std::memory_order_relaxed);
}
int64_t ThreadDenseCreated(DenseOp op) { return t_dense_created[static_cast<int>(op)]; }
int64_t ThreadDenseRuns(DenseOp op) { return t_dense_runs[static_cast<int>(op)]; }
int64_t TotalDenseRuns(DenseOp op) { return g_dense_runs[static_cast<int>(op)].load(); }

void Note(const std::string& message) {
  t_notes.push_back(message);
  if (t_notes.size() > kMaxNotes) {
    t_notes.pop_front();
    ++t_notes_dropped;
  }
  bool first_time;
  {
    std::lock_guard<std::mutex> lock(g_print_mutex);
    first_time = g_printed.size() < kMaxNotes && g_printed.insert(message).second;
  }
  if (first_time && settings().log_stderr.load()) std::fprintf(stderr, "sparsebytenn: %s\n", message.c_str());
}

int64_t ThreadNoteCount() { return t_notes_dropped + static_cast<int64_t>(t_notes.size()); }

std::string ThreadNoteAt(int64_t i) {
  int64_t k = i - t_notes_dropped;
  if (k < 0 || k >= static_cast<int64_t>(t_notes.size())) return std::string();
  return t_notes[static_cast<size_t>(k)];
}

}  // namespace mnnbridge
}  // namespace sbnn
