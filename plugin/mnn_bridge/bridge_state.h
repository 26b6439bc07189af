// Process-wide state of the bridge: settings chosen by the host after its probe
// (channel pack, armed or pass-through), counters and fallback messages.
#ifndef SBNN_MNN_BRIDGE_BRIDGE_STATE_H_
#define SBNN_MNN_BRIDGE_BRIDGE_STATE_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace sbnn {
namespace mnnbridge {

enum class ExecutorKind : int { kKernelPool = 0, kMnnPool = 1 };

struct BridgeSettings {
  std::atomic<int> pack{8};            // MNN's NC4HW4 channel pack P on this CPU
  std::atomic<bool> armed{false};      // false: the creator hands out MNN's own CPU runtime
  std::atomic<bool> low_precision_ok{false};  // precision=low sessions keep fp32 tensors
  std::atomic<bool> f16_ok{false};  // precision=low sessions computing in fp16 get fp16 executions
  std::atomic<int> executor{static_cast<int>(ExecutorKind::kMnnPool)};
  std::atomic<bool> log_stderr{true};
};
BridgeSettings& settings();

// Counters. The per-thread ones let a host attribute work to the session it ran
// on the calling thread even when several sessions run at once.
// packed_group: the G the kernels packed the conv in (the model's G, or a larger one
// where that runs faster: sbnn_gsparse_fastest_group).
void CountConvCreated(int packed_group);
void CountConvRun(int threads);  // threads: the width the kernels were given
int64_t ThreadConvsCreated();
int64_t ThreadConvsPacked(int group_size);  // of those, packed in groups of group_size; -1: no such G
int64_t ThreadConvRuns();
int64_t ThreadConvThreads();     // sum of those widths: shows numThread reaching the kernels
int64_t TotalConvsCreated();
int64_t TotalConvRuns();
// The dense ops the plugin took over (measured_execution.h), counted apart by kind:
// the conv counters above stay "tagged sparse convs", which the host checks against
// the model's tagged layers. The values are the C API's op kinds (bridge_api.h).
enum class DenseOp : int { kDepthwise = 0, kDirectConv = 1, kPointwise = 2 };
constexpr int kDenseOpKinds = 3;
void CountDenseCreated(DenseOp op);
void CountDenseRun(DenseOp op);
int64_t ThreadDenseCreated(DenseOp op);
int64_t ThreadDenseRuns(DenseOp op);
int64_t TotalDenseRuns(DenseOp op);

// A human-readable note (e.g. "conv 'x' falls back to MNN: <reason>"); kept for
// the host on the calling thread and printed to stderr (once per text) unless disabled.
void Note(const std::string& message);
int64_t ThreadNoteCount();           // notes made on the calling thread so far
std::string ThreadNoteAt(int64_t i);

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_BRIDGE_STATE_H_
