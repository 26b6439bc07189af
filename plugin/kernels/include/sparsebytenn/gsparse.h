/* SparseByteNN group-sparse f32 convolution: the public kernel API.
 *
 * Plain C so that the MNN bridge (C++), the pybind11 module and the wasm32
 * reactor module all use the same entry points; no exceptions cross it, every
 * call returns an sbnn_status. Kernels know nothing of MNN or Python.
 *
 * Flow:  sbnn_gsparse_pack() once per convolution (dense OIHW weights, bias,
 *        group size G, fused clamp) -> opaque sbnn_gsparse_weights*;
 *        sbnn_gsparse_run() per inference on NCHW or NC{P}HW{P} activations;
 *        sbnn_gsparse_free() at the end.
 * The packed format is described in docs/PACKED_FORMAT.md.
 */
#ifndef SPARSEBYTENN_GSPARSE_H_
#define SPARSEBYTENN_GSPARSE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sbnn_status {
  SBNN_OK = 0,
  SBNN_ERR_NULL_POINTER = 1,   /* a required pointer is NULL */
  SBNN_ERR_BAD_SHAPE = 2,      /* channels / kernel / spatial sizes invalid or inconsistent */
  SBNN_ERR_BAD_GROUP = 3,      /* G not in {1,2,4,8,16} */
  SBNN_ERR_BAD_LAYOUT = 4,     /* pack not in {1,4,8,16} or strides too small */
  SBNN_ERR_BAD_PARAM = 5,      /* stride/dilation < 1, negative padding, min > max, NaN clamp */
  SBNN_ERR_MISALIGNED = 6,     /* a float buffer is not 4-byte aligned */
  SBNN_ERR_OUT_OF_MEMORY = 7,
  SBNN_ERR_WORKSPACE_TOO_SMALL = 8,
  SBNN_ERR_UNKNOWN_VARIANT = 9,   /* requested ISA/variant unknown or not runnable on this CPU */
  SBNN_ERR_EXECUTOR = 10        /* executor num_threads < 1 */
} sbnn_status;

/* Static English text for a status ("ok", "bad group size", ...). */
const char* sbnn_status_string(sbnn_status status);

/* ---- packing ----------------------------------------------------------- */

typedef struct sbnn_pack_params {
  int32_t out_channels;   /* O >= 1 */
  int32_t in_channels;    /* I >= 1 (group-1 conv only) */
  int32_t kernel_h;       /* kh >= 1 */
  int32_t kernel_w;       /* kw >= 1 */
  int32_t group_size;     /* G: 1, 2, 4, 8 or 16 output channels per sparse group */
  float output_min;       /* fused clamp; -INFINITY / +INFINITY for none, 0/6 for ReLU6 */
  float output_max;
  /* Microkernel ISA: NULL or "" = automatic (env SPARSEBYTENN_ISA, else best
   * the CPU runs), or one of "ref", "avx2", "avx512", "neon", "wasmsimd",
   * "neonfp16" (fp16 weights: run with sbnn_gsparse_run_f16). */
  const char* isa;
} sbnn_pack_params;

typedef struct sbnn_gsparse_weights sbnn_gsparse_weights; /* opaque, immutable after pack */

/* weights_oihw: O*I*kh*kw floats, dense, row-major OIHW. bias: O floats or NULL
 * (zeros). One (output group, input channel, tap) entry is stored when any of
 * its G weights is nonzero, so a wrong G costs speed, never correctness. The
 * inputs are copied; the caller may free them after the call. */
sbnn_status sbnn_gsparse_pack(const sbnn_pack_params* params, const float* weights_oihw,
                              const float* bias, sbnn_gsparse_weights** out_packed);
void sbnn_gsparse_free(sbnn_gsparse_weights* packed);

typedef struct sbnn_gsparse_info {
  int32_t out_channels, in_channels, kernel_h, kernel_w, group_size;
  int64_t nonzero_blocks;   /* kept (group, input channel) pairs */
  int64_t nonzero_macs_per_pixel; /* sum over kept pairs of rows_in_group * kh * kw */
  const char* variant;      /* microkernel name, e.g. "f32_gspmm_8x48__avx512" */
  const char* isa;          /* "ref", "avx2", "avx512", "neon", "wasmsimd" */
} sbnn_gsparse_info;
sbnn_status sbnn_gsparse_get_info(const sbnn_gsparse_weights* packed, sbnn_gsparse_info* info);

/* ---- running ------------------------------------------------------------ */

/* Output size must satisfy, per axis:
 *   out = (in + pad_before + pad_after - dilation*(k-1) - 1) / stride + 1   (floor, >= 1)
 * Padding is zero padding; pad_* may differ (TF "SAME" gives asymmetric pads). */
typedef struct sbnn_conv_geometry {
  int32_t batch;                       /* N >= 1 */
  int32_t in_h, in_w;
  int32_t out_h, out_w;
  int32_t stride_h, stride_w;          /* >= 1 */
  int32_t dilation_h, dilation_w;      /* >= 1 */
  int32_t pad_top, pad_left, pad_bottom, pad_right;  /* >= 0 */
} sbnn_conv_geometry;

/* Activation layout, in floats.
 *  pack == 1  : NCHW. element (n,c,h,w) at n*batch_stride + c*block_stride + h*W + w.
 *               defaults (0): block_stride = H*W, batch_stride = C*H*W.
 *  pack == P  : NC{P}HW{P}, P in {4, 8, 16}. element (n,c,h,w) at
 *               (c/P)*block_stride + n*batch_stride + (h*W + w)*P + c%P.
 *               defaults (0) are MNN's CPU layout [ceil(C/P)][N][H*W][P]:
 *               batch_stride = H*W*P, block_stride = N*H*W*P.
 * Input lanes c >= C of the last block are ignored; output lanes c >= O of the
 * last block are written with 0. */
typedef struct sbnn_tensor_layout {
  int32_t pack;
  int64_t batch_stride;
  int64_t block_stride;
} sbnn_tensor_layout;

/* Executor: parallel_for must call task(task_ctx, i) exactly once for every i in
 * [0, num_tasks) (concurrently, on any threads) and return when all are done.
 * The conv is split into exactly num_threads tasks, statically: task i owns a
 * fixed set of (output-group range x pixel-tile range) work items and its own
 * workspace slice, so no task waits on another.
 * parallel_for == NULL: the built-in pool (persistent threads; serial on wasm). */
typedef void (*sbnn_task_fn)(void* task_ctx, int32_t task_index);
typedef struct sbnn_executor {
  void (*parallel_for)(void* executor_ctx, int32_t num_tasks, sbnn_task_fn task, void* task_ctx);
  void* executor_ctx;
  int32_t num_threads;   /* >= 1 */
} sbnn_executor;

/* Bytes of scratch memory sbnn_gsparse_run needs for this geometry and thread
 * count (0 on invalid arguments). */
size_t sbnn_gsparse_workspace_size(const sbnn_gsparse_weights* packed,
                                   const sbnn_conv_geometry* geometry, int32_t num_threads);

/* Runs the convolution. executor == NULL: built-in pool, 1 thread.
 * workspace == NULL: allocated internally for this call; otherwise it must hold
 * sbnn_gsparse_workspace_size() bytes (64-byte alignment is best, 4 required).
 * input and output must not overlap. */
sbnn_status sbnn_gsparse_run(const sbnn_gsparse_weights* packed, const sbnn_conv_geometry* geometry,
                             const float* input, const sbnn_tensor_layout* input_layout,
                             float* output, const sbnn_tensor_layout* output_layout,
                             const sbnn_executor* executor, void* workspace, size_t workspace_size);

/* The same on IEEE fp16 activations (raw 16-bit patterns; layouts in elements):
 * only for weights packed with an fp16 ISA ("neonfp16": ARMv8.2-A FP16, G-row
 * groups of fp16 weights, fp16 bias, clamp and accumulation, NC8HW8 is MNN's fp16
 * layout). A packed/entry-point mismatch (fp32 pack here, or an fp16 pack in
 * sbnn_gsparse_run) returns SBNN_ERR_UNKNOWN_VARIANT. Automatic dispatch never
 * picks an fp16 ISA: ask for it by name. */
sbnn_status sbnn_gsparse_run_f16(const sbnn_gsparse_weights* packed, const sbnn_conv_geometry* geometry,
                                 const uint16_t* input, const sbnn_tensor_layout* input_layout,
                                 uint16_t* output, const sbnn_tensor_layout* output_layout,
                                 const sbnn_executor* executor, void* workspace, size_t workspace_size);

/* ---- choosing the packing group size ------------------------------------ */

/* A pack's modelled time per output pixel = per_weight x stored weights + per_channel x
 * output channels, both in units of G=8's per_weight on the same ISA. */
typedef struct sbnn_group_cost {
  float per_weight;
  float per_channel;
} sbnn_group_cost;

/* The group size to pack these weights with for the least modelled kernel time on
 * params->isa (NULL or "": the one sbnn_gsparse_pack would use): params->group_size, or a
 * larger one whose groups store the zeros of partly kept groups yet run faster (x86: a
 * G=1 layer at 30 % sparsity runs about 2x faster packed as G=8). The model, per G:
 * kept (group, input channel, tap) entries x G x per_weight + output channels x
 * per_channel (sbnn_gsparse_group_cost). ISAs without costs keep params->group_size.
 * Writes *group_size. */
sbnn_status sbnn_gsparse_fastest_group(const sbnn_pack_params* params, const float* weights_oihw,
                                       int32_t* group_size);
/* The modelled costs of packing in groups of G on this ISA (fits of the shipped speed
 * tables) for CPUs of vendor "intel" or "amd" (NULL or "": this CPU's; a vendor without its
 * own table gets Intel's); {0, 0} when the ISA has no costs (then the packing G is never
 * changed) or G is not 1, 2, 4, 8, 16. */
sbnn_group_cost sbnn_gsparse_group_cost(const char* isa, const char* vendor, int32_t group_size);

/* ---- variants / dispatch ----------------------------------------------- */

/* ISA automatic selection would pick now ("avx512", "avx2", "neon", "wasmsimd",
 * "ref"), honouring SPARSEBYTENN_ISA=ref|avx2|avx512|neon|wasmsimd when runnable. */
const char* sbnn_default_isa(void);
/* 1 when this build has the ISA compiled in and the CPU runs it. */
int sbnn_isa_available(const char* isa);
/* The variant table (one entry per ISA x G microkernel compiled in). */
int32_t sbnn_variant_count(void);
typedef struct sbnn_variant_desc {
  const char* name;    /* e.g. "f32_gspmm_8x48__avx512": G=8 rows x 48-pixel tile */
  const char* isa;
  int32_t group_size;  /* G it is specialised for */
  int32_t tile;        /* pixels per tile */
  int32_t available;   /* runnable on this CPU */
} sbnn_variant_desc;
sbnn_status sbnn_variant_get(int32_t index, sbnn_variant_desc* desc);

#ifdef __cplusplus
}  /* extern "C" */
#endif
#endif  /* SPARSEBYTENN_GSPARSE_H_ */
