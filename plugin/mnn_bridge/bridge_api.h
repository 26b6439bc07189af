/* The C entry points of libsparsebytenn_mnn.so, called by the host (the Python
 * package through ctypes). Typical order: sbnn_mnn_bind(engine) ->
 * sbnn_mnn_register(type) (pass-through) -> sbnn_mnn_set_pack(P) ->
 * sbnn_mnn_set_armed(1) -> probe -> keep armed or sbnn_mnn_set_armed(0). */
#ifndef SBNN_MNN_BRIDGE_BRIDGE_API_H_
#define SBNN_MNN_BRIDGE_BRIDGE_API_H_

#include <stdint.h>

#define SBNN_MNN_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this C API (bumped on incompatible change). */
SBNN_MNN_API int sbnn_mnn_api_version(void);
/* Binds the MNN functions the bridge calls from the already-loaded engine at
 * engine_path. 0 on success; otherwise writes the reason into err. */
SBNN_MNN_API int sbnn_mnn_bind(const char* engine_path, char* err, int err_len);
/* Registers the runtime creator at forward type `type` (once per process; it
 * stays for the life of the process). It starts disarmed: sessions get MNN's own
 * CPU runtime until sbnn_mnn_set_armed(1). 0 on success. */
SBNN_MNN_API int sbnn_mnn_register(int type, char* err, int err_len);
SBNN_MNN_API int sbnn_mnn_registered_type(void); /* -1 when not registered */
SBNN_MNN_API void sbnn_mnn_set_armed(int armed);
SBNN_MNN_API int sbnn_mnn_armed(void);
/* MNN's NC4HW4 channel pack on this CPU (4, 8 or 16); found by the host's probe. */
SBNN_MNN_API void sbnn_mnn_set_pack(int pack);
SBNN_MNN_API int sbnn_mnn_pack(void);
/* Whether sessions with precision=low are intercepted too (only when their
 * tensors stay fp32, as on x86). */
SBNN_MNN_API void sbnn_mnn_set_low_precision_ok(int ok);
/* Whether precision=low sessions whose CPU backend computes in fp16 (MNN's ARMv8.2
 * backend, NC8HW8 fp16 tensors) get fp16 sparse executions; found by the probe. */
SBNN_MNN_API void sbnn_mnn_set_f16_ok(int ok);
/* 0: the kernels' own thread pool; 1: MNN's ThreadPool (default). */
SBNN_MNN_API void sbnn_mnn_set_executor(int kind);
SBNN_MNN_API int sbnn_mnn_executor(void);
SBNN_MNN_API void sbnn_mnn_set_log_stderr(int on);
/* Sparse convs created / executed by the bridge on the calling thread, and in total. */
SBNN_MNN_API int64_t sbnn_mnn_thread_convs_created(void);
/* Of those, the ones packed in groups of group_size (1, 2, 4, 8, 16): the model's G or,
 * where the kernels' cost model says it runs faster, a larger one (zeros stored). -1 for
 * any other group_size. */
SBNN_MNN_API int64_t sbnn_mnn_thread_convs_packed(int group_size);
SBNN_MNN_API int64_t sbnn_mnn_thread_conv_runs(void);
/* Sum over those runs of the thread count the kernels were given (numThread). */
SBNN_MNN_API int64_t sbnn_mnn_thread_conv_threads(void);
SBNN_MNN_API int64_t sbnn_mnn_total_convs_created(void);
SBNN_MNN_API int64_t sbnn_mnn_total_conv_runs(void);
/* Dense ops the bridge took over, by kind: 0 depthwise convs (ConvolutionDepthwise
 * ops), 1 direct convs (dense Convolution ops with few input channels, e.g. the first
 * conv), 2 pointwise convs (dense 1x1 Convolution ops with more); created / executed
 * on the calling thread, and executed in total; not part
 * of the conv counts above. -1 for an unknown kind. */
SBNN_MNN_API int64_t sbnn_mnn_thread_dense_created(int kind);
SBNN_MNN_API int64_t sbnn_mnn_thread_dense_runs(int kind);
SBNN_MNN_API int64_t sbnn_mnn_total_dense_runs(int kind);
/* Notes (fallback reasons) made on the calling thread: how many so far, and the
 * i-th (copied, NUL-ended). Returns the note's full length, or -1 when i is out of
 * range or already dropped (each thread keeps its last 1000). */
SBNN_MNN_API int64_t sbnn_mnn_thread_note_count(void);
SBNN_MNN_API int sbnn_mnn_thread_note(int64_t i, char* buf, int buf_len);
/* The kernel ISA the bridge's convs use (e.g. "avx512", "neon"). */
SBNN_MNN_API const char* sbnn_mnn_kernel_isa(void);

#ifdef __cplusplus
}
#endif
#endif /* SBNN_MNN_BRIDGE_BRIDGE_API_H_ */
