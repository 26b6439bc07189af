/* SparseByteNN dense f32 direct convolution for convs with few input channels
 * (a network's first conv: 3 colour channels, kxk, stride 2). There a GEMM spends
 * more time gathering its im2col rows than multiplying them, and group sparsity
 * has nothing to skip; this family reads the input in place and keeps a tile of
 * output channels x pixels in registers. Same conventions as gsparse.h (status
 * codes, geometry, layouts, executor); kernels know nothing of MNN.
 *
 * Flow: sbnn_dconv_pack() once (O x I x kh x kw weights, bias, clamp, ISA) ->
 *       sbnn_dconv_run() per inference -> sbnn_dconv_free().
 * The SIMD ISAs ("avx512", "avx2") run NC8HW8 tensors only (MNN's x86 layout);
 * "ref" runs every layout of gsparse.h (pack 1, 4, 8, 16). */
#ifndef SPARSEBYTENN_DCONV_H_
#define SPARSEBYTENN_DCONV_H_

#include "sparsebytenn/gsparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Input channels above this are refused (SBNN_ERR_BAD_SHAPE): wide inputs are a GEMM's job. */
#define SBNN_DCONV_MAX_IN_CHANNELS 16

typedef struct sbnn_dconv_params {
  int32_t out_channels;  /* O >= 1 */
  int32_t in_channels;   /* 1 <= I <= SBNN_DCONV_MAX_IN_CHANNELS */
  int32_t kernel_h;      /* >= 1 */
  int32_t kernel_w;
  float output_min;      /* fused clamp, as in sbnn_pack_params */
  float output_max;
  /* NULL or "": SPARSEBYTENN_ISA, else the best the CPU runs; or "ref", "avx2", "avx512". */
  const char* isa;
} sbnn_dconv_params;

typedef struct sbnn_dconv_weights sbnn_dconv_weights;

/* weights: O*I*kh*kw floats, OIHW (MNN's / ONNX's conv weight); bias: O or NULL. Copied.
 * Non-finite weights are refused (SBNN_ERR_BAD_PARAM): the kernels skip the taps that
 * fall on zero padding, where 0 x inf would be NaN. */
sbnn_status sbnn_dconv_pack(const sbnn_dconv_params* params, const float* weights, const float* bias,
                            sbnn_dconv_weights** out_packed);
void sbnn_dconv_free(sbnn_dconv_weights* packed);

typedef struct sbnn_dconv_info {
  int32_t out_channels, in_channels, kernel_h, kernel_w;
  int32_t lanes;         /* output channels per vector register (1 for ref) */
  const char* isa;
} sbnn_dconv_info;
sbnn_status sbnn_dconv_get_info(const sbnn_dconv_weights* packed, sbnn_dconv_info* info);

/* The microkernel sbnn_dconv_run would use for these strides, e.g.
 * "f32_dconv_3x3s2__avx512" (a specialised one, else the ISA's kxk one). */
const char* sbnn_dconv_variant_for(const sbnn_dconv_weights* packed, int32_t stride_h, int32_t stride_w);

/* No workspace. Output lanes c >= O of the last block are written with 0; input
 * lanes c >= I are ignored. Input and output layouts may differ in strides, not in pack. */
sbnn_status sbnn_dconv_run(const sbnn_dconv_weights* packed, const sbnn_conv_geometry* geometry,
                           const float* input, const sbnn_tensor_layout* input_layout, float* output,
                           const sbnn_tensor_layout* output_layout, const sbnn_executor* executor);

/* The variant table (the one list dispatch, testers and benchmarks read). */
typedef struct sbnn_dconv_variant_desc {
  const char* name;      /* f32_dconv_{k}x{k}s{s}__{isa}, or f32_dconv_kxk__{isa} (any size/stride) */
  const char* isa;
  int32_t kernel_h, kernel_w, stride;  /* 0: any */
  int32_t available;
} sbnn_dconv_variant_desc;
int32_t sbnn_dconv_variant_count(void);
sbnn_status sbnn_dconv_variant_get(int32_t index, sbnn_dconv_variant_desc* desc);

#ifdef __cplusplus
}
#endif
#endif /* SPARSEBYTENN_DCONV_H_ */
