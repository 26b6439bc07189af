/* SparseByteNN dense f32 depthwise convolution (one filter per channel), the
 * other op of a MobileNet block. Same conventions as gsparse.h (status codes,
 * geometry, layouts, executor); kernels know nothing of MNN.
 *
 * Flow: sbnn_dwconv_pack() once (C x kh x kw weights, bias, clamp, ISA) ->
 *       sbnn_dwconv_run() per inference -> sbnn_dwconv_free().
 * The SIMD ISAs ("avx512", "avx2") run NC8HW8 tensors only (MNN's x86 layout;
 * avx512 takes two 8-channel blocks per 16-lane register); "ref" runs every
 * layout of gsparse.h (pack 1, 4, 8, 16). */
#ifndef SPARSEBYTENN_DWCONV_H_
#define SPARSEBYTENN_DWCONV_H_

#include "sparsebytenn/gsparse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sbnn_dwconv_params {
  int32_t channels;     /* C >= 1 (input = output channels, multiplier 1) */
  int32_t kernel_h;     /* >= 1 */
  int32_t kernel_w;
  float output_min;     /* fused clamp, as in sbnn_pack_params */
  float output_max;
  /* NULL or "": SPARSEBYTENN_ISA, else the best the CPU runs; or "ref", "avx2", "avx512". */
  const char* isa;
} sbnn_dwconv_params;

typedef struct sbnn_dwconv_weights sbnn_dwconv_weights;

/* weights: C*kh*kw floats (MNN's / ONNX's depthwise [C][1][kh][kw]); bias: C or NULL. Copied. */
sbnn_status sbnn_dwconv_pack(const sbnn_dwconv_params* params, const float* weights, const float* bias,
                             sbnn_dwconv_weights** out_packed);
void sbnn_dwconv_free(sbnn_dwconv_weights* packed);

typedef struct sbnn_dwconv_info {
  int32_t channels, kernel_h, kernel_w;
  int32_t lanes;        /* channels per vector register (1 for ref) */
  const char* isa;
} sbnn_dwconv_info;
sbnn_status sbnn_dwconv_get_info(const sbnn_dwconv_weights* packed, sbnn_dwconv_info* info);

/* The microkernel sbnn_dwconv_run would use for these strides, e.g.
 * "f32_dwconv_3x3s1__avx512" (a specialised one, else the ISA's kxk one). */
const char* sbnn_dwconv_variant_for(const sbnn_dwconv_weights* packed, int32_t stride_h, int32_t stride_w);

/* Scratch bytes for this geometry / pack / thread count (0: cannot run it). */
size_t sbnn_dwconv_workspace_size(const sbnn_dwconv_weights* packed, const sbnn_conv_geometry* geometry,
                                  int32_t pack, int32_t num_threads);

/* Output lanes c >= C of the last block are written with 0; input lanes c >= C are
 * ignored. workspace == NULL: allocated for this call. */
sbnn_status sbnn_dwconv_run(const sbnn_dwconv_weights* packed, const sbnn_conv_geometry* geometry,
                            const float* input, const sbnn_tensor_layout* input_layout, float* output,
                            const sbnn_tensor_layout* output_layout, const sbnn_executor* executor,
                            void* workspace, size_t workspace_size);

/* The depthwise variant table (the one list dispatch, testers and benchmarks read). */
typedef struct sbnn_dwconv_variant_desc {
  const char* name;     /* f32_dwconv_{k}x{k}s{s}__{isa}, or f32_dwconv_kxk__{isa} (any size/stride) */
  const char* isa;
  int32_t kernel_h, kernel_w, stride;   /* 0: any */
  int32_t available;
} sbnn_dwconv_variant_desc;
int32_t sbnn_dwconv_variant_count(void);
sbnn_status sbnn_dwconv_variant_get(int32_t index, sbnn_dwconv_variant_desc* desc);

#ifdef __cplusplus
}
#endif
#endif /* SPARSEBYTENN_DWCONV_H_ */
