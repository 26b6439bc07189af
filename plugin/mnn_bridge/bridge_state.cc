#include "bridge_state.h"

#include <cstdio>
#include <deque>
#include <mutex>
#include <set>

namespace sbnn {
namespace mnnbridge {
namespace {

thread_local int64_t t_created = 0;
thread_local int64_t t_runs = 0;
thread_local int64_t t_run_threads = 0;
std::atomic<int64_t> g_created{0};
std::atomic<int64_t> g_runs{0};

std::mutex g_note_mutex;
std::deque<std::string> g_notes;  // bounded: the oldest are dropped
int64_t g_notes_dropped = 0;
constexpr size_t kMaxNotes = 1000;
std::set<std::string> g_printed;  // each distinct note reaches stderr once

}  // namespace

BridgeSettings& settings() {
  static BridgeSettings s;
  return s;
}

void CountConvCreated() {
  ++t_created;
  g_created.fetch_add(1, std::memory_order_relaxed);
}
void CountConvRun(int threads) {
  ++t_runs;
  t_run_threads += threads;
  g_runs.fetch_add(1, std::memory_order_relaxed);
}
int64_t ThreadConvsCreated() { return t_created; }
int64_t ThreadConvRuns() { return t_runs; }
int64_t ThreadConvThreads() { return t_run_threads; }
int64_t TotalConvsCreated() { return g_created.load(); }
int64_t TotalConvRuns() { return g_runs.load(); }

void Note(const std::string& message) {
  bool first_time;
  {
    std::lock_guard<std::mutex> lock(g_note_mutex);
    g_notes.push_back(message);
    if (g_notes.size() > kMaxNotes) {
      g_notes.pop_front();
      ++g_notes_dropped;
    }
    first_time = g_printed.size() < kMaxNotes && g_printed.insert(message).second;
  }
  if (first_time && settings().log_stderr.load()) std::fprintf(stderr, "sparsebytenn: %s\n", message.c_str());
}

int64_t NoteCount() {
  std::lock_guard<std::mutex> lock(g_note_mutex);
  return g_notes_dropped + static_cast<int64_t>(g_notes.size());
}

std::string NoteAt(int64_t i) {
  std::lock_guard<std::mutex> lock(g_note_mutex);
  int64_t k = i - g_notes_dropped;
  if (k < 0 || k >= static_cast<int64_t>(g_notes.size())) return std::string();
  return g_notes[static_cast<size_t>(k)];
}

}  // namespace mnnbridge
}  // namespace sbnn
