#include "bridge_api.h"

#include <cstring>
#include <mutex>
#include <string>

#include "bridge_state.h"
#include "deco_runtime.h"
#include "mnn_abi/exports.h"
#include "sparsebytenn/gsparse.h"

namespace {

using sbnn::mnnbridge::DenseOp;
using sbnn::mnnbridge::settings;
bool KnownDenseKind(int kind) { return kind >= 0 && kind < sbnn::mnnbridge::kDenseOpKinds; }

std::mutex g_mutex;
bool g_bound = false;
int g_registered_type = -1;

int Fail(const std::string& why, char* err, int err_len) {
  if (err != nullptr && err_len > 0) {
    std::strncpy(err, why.c_str(), static_cast<size_t>(err_len) - 1);
    err[err_len - 1] = '\0';
  }
  return 1;
}

}  // namespace

extern "C" {

int sbnn_mnn_api_version(void) { return 1; }

int sbnn_mnn_bind(const char* engine_path, char* err, int err_len) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (engine_path == nullptr) return Fail("no engine path", err, err_len);
  sbnn::mnnabi::Exports e;
  std::string why;
  if (!sbnn::mnnabi::BindExports(engine_path, &e, &why)) return Fail(why, err, err_len);
  g_bound = true;
  return 0;
}

int sbnn_mnn_register(int type, char* err, int err_len) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_bound) return Fail("sbnn_mnn_bind() has not succeeded", err, err_len);
  if (g_registered_type == type) return 0;
  if (g_registered_type >= 0)
    return Fail("already registered at type " + std::to_string(g_registered_type), err, err_len);
  const auto& ex = sbnn::mnnabi::exports();
  if (ex.get_runtime_creator(sbnn::mnnabi::kForwardCpu) == nullptr)
    return Fail("MNN has no CPU runtime creator", err, err_len);
  if (ex.get_runtime_creator(type) != nullptr)
    return Fail("MNN forward type " + std::to_string(type) + " is already taken", err, err_len);
  // Never freed: MNN keeps the pointer for the life of the process.
  static sbnn::mnnbridge::DecoCreator* creator = new sbnn::mnnbridge::DecoCreator(type);
  if (!ex.insert_runtime_creator(type, creator, false))
    return Fail("MNN refused the creator for type " + std::to_string(type), err, err_len);
  g_registered_type = type;
  return 0;
}

int sbnn_mnn_registered_type(void) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_registered_type;
}

void sbnn_mnn_set_armed(int armed) { settings().armed.store(armed != 0); }
int sbnn_mnn_armed(void) { return settings().armed.load() ? 1 : 0; }
void sbnn_mnn_set_pack(int pack) {
  if (pack == 4 || pack == 8 || pack == 16) settings().pack.store(pack);
}
int sbnn_mnn_pack(void) { return settings().pack.load(); }
void sbnn_mnn_set_low_precision_ok(int ok) { settings().low_precision_ok.store(ok != 0); }
void sbnn_mnn_set_f16_ok(int ok) { settings().f16_ok.store(ok != 0); }
void sbnn_mnn_set_executor(int kind) { settings().executor.store(kind == 0 ? 0 : 1); }
int sbnn_mnn_executor(void) { return settings().executor.load(); }
void sbnn_mnn_set_log_stderr(int on) { settings().log_stderr.store(on != 0); }

int64_t sbnn_mnn_thread_convs_created(void) { return sbnn::mnnbridge::ThreadConvsCreated(); }
int64_t sbnn_mnn_thread_convs_packed(int group_size) { return sbnn::mnnbridge::ThreadConvsPacked(group_size); }
int64_t sbnn_mnn_thread_conv_runs(void) { return sbnn::mnnbridge::ThreadConvRuns(); }
int64_t sbnn_mnn_thread_conv_threads(void) { return sbnn::mnnbridge::ThreadConvThreads(); }
int64_t sbnn_mnn_total_convs_created(void) { return sbnn::mnnbridge::TotalConvsCreated(); }
int64_t sbnn_mnn_total_conv_runs(void) { return sbnn::mnnbridge::TotalConvRuns(); }

int64_t sbnn_mnn_thread_dense_created(int kind) {
  return KnownDenseKind(kind) ? sbnn::mnnbridge::ThreadDenseCreated(static_cast<DenseOp>(kind)) : -1;
}
int64_t sbnn_mnn_thread_dense_runs(int kind) {
  return KnownDenseKind(kind) ? sbnn::mnnbridge::ThreadDenseRuns(static_cast<DenseOp>(kind)) : -1;
}
int64_t sbnn_mnn_total_dense_runs(int kind) {
  return KnownDenseKind(kind) ? sbnn::mnnbridge::TotalDenseRuns(static_cast<DenseOp>(kind)) : -1;
}

int64_t sbnn_mnn_thread_note_count(void) { return sbnn::mnnbridge::ThreadNoteCount(); }
int sbnn_mnn_thread_note(int64_t i, char* buf, int buf_len) {
  if (i < 0 || i >= sbnn::mnnbridge::ThreadNoteCount()) return -1;
  std::string note = sbnn::mnnbridge::ThreadNoteAt(i);
  if (buf != nullptr && buf_len > 0) {
    std::strncpy(buf, note.c_str(), static_cast<size_t>(buf_len) - 1);
    buf[buf_len - 1] = '\0';
  }
  return static_cast<int>(note.size());
}

const char* sbnn_mnn_kernel_isa(void) { return sbnn_default_isa(); }

}  // extern "C"
