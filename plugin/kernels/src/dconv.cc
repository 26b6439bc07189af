// sbnn_dconv_*: pack, validation, the direct conv variant table and dispatch, run.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

#include "aligned_alloc.h"
#include "dconv_task.h"
#include "dense_run.h"
#include "shape_variants.h"

namespace sbnn {
namespace {

using DconvIsa = ShapeIsa<DconvVariant>;

// Best first, as in variants.cc; automatic dispatch takes the first runnable one.
const DconvIsa kDconvIsas[] = {
#if defined(SBNN_HAVE_AVX512)
    {"avx512", kDconvAvx512Variants, 2},
#endif
#if defined(SBNN_HAVE_AVX2)
    {"avx2", kDconvAvx2Variants, 2},
#endif
    {"ref", kDconvRefVariants, 1},
};

constexpr int32_t kMaxThreads = 256;
constexpr int32_t kMaxKernel = 64;

struct DconvJob {
  DconvContext ctx;
  DconvTaskFn fn;
};

void run_dconv_task(void* job, int32_t task) {
  const DconvJob* j = static_cast<const DconvJob*>(job);
  j->fn(j->ctx, task);
}

// [x_begin, x_end): the output columns whose taps all lie in [0, in_w).
void interior_columns(const sbnn_conv_geometry* g, int32_t kernel_w, int32_t* x_begin, int32_t* x_end) {
  const int64_t first = (g->pad_left + g->stride_w - 1) / g->stride_w;
  const int64_t last_ix = static_cast<int64_t>(g->in_w) - 1 - static_cast<int64_t>(kernel_w - 1) * g->dilation_w +
                          g->pad_left;  // ox * stride may reach this
  const int64_t end = last_ix < 0 ? 0 : last_ix / g->stride_w + 1;
  *x_begin = static_cast<int32_t>(std::min<int64_t>(first, g->out_w));
  *x_end = static_cast<int32_t>(std::max<int64_t>(*x_begin, std::min<int64_t>(end, g->out_w)));
}

}  // namespace
}  // namespace sbnn

using sbnn::DconvVariant;

extern "C" sbnn_status sbnn_dconv_pack(const sbnn_dconv_params* p, const float* weights, const float* bias,
                                       sbnn_dconv_weights** out_packed) {
  if (p == nullptr || weights == nullptr || out_packed == nullptr) return SBNN_ERR_NULL_POINTER;
  *out_packed = nullptr;
  if (p->out_channels < 1 || p->out_channels > (1 << 20) || p->in_channels < 1 ||
      p->in_channels > SBNN_DCONV_MAX_IN_CHANNELS || p->kernel_h < 1 || p->kernel_w < 1 ||
      p->kernel_h > sbnn::kMaxKernel || p->kernel_w > sbnn::kMaxKernel)
    return SBNN_ERR_BAD_SHAPE;
  if (std::isnan(p->output_min) || std::isnan(p->output_max) || p->output_min > p->output_max)
    return SBNN_ERR_BAD_PARAM;
  if ((reinterpret_cast<uintptr_t>(weights) & 3) || (bias != nullptr && (reinterpret_cast<uintptr_t>(bias) & 3)))
    return SBNN_ERR_MISALIGNED;
  // The kernels skip the taps that fall on zero padding; IEEE's 0 x inf = NaN there
  // would make a non-finite weight's output depend on that (numpy and MNN say NaN).
  const size_t count = static_cast<size_t>(p->out_channels) * p->in_channels * p->kernel_h * p->kernel_w;
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(weights[i])) return SBNN_ERR_BAD_PARAM;
  const sbnn::DconvIsa* t = sbnn::choose_shape_isa(sbnn::kDconvIsas, p->isa);
  if (t == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  const int32_t L = t->variants[0].lanes, O = p->out_channels, I = p->in_channels;
  const int32_t taps = p->kernel_h * p->kernel_w;
  const int32_t units = (O + L - 1) / L, chunks = (units + 1) / 2;
  // ref keeps OIHW; the SIMD layout is [chunk][tap][ci][2][L].
  const size_t wfloats = L == 1 ? static_cast<size_t>(O) * I * taps : static_cast<size_t>(chunks) * taps * I * 2 * L;
  const size_t bfloats = L == 1 ? static_cast<size_t>(O) : static_cast<size_t>(chunks) * 2 * L;
  const size_t wbytes = sbnn::round_up64(sizeof(float) * wfloats), bbytes = sbnn::round_up64(sizeof(float) * bfloats);
  void* storage = sbnn::alloc_aligned64(wbytes + bbytes);
  auto* w = new (std::nothrow) sbnn_dconv_weights();
  if (storage == nullptr || w == nullptr) {
    sbnn::free_aligned(storage);
    delete w;
    return SBNN_ERR_OUT_OF_MEMORY;
  }
  w->out_channels = O;
  w->in_channels = I;
  w->kernel_h = p->kernel_h;
  w->kernel_w = p->kernel_w;
  w->lanes = L;
  w->units = units;
  w->chunks = chunks;
  w->output_min = p->output_min;
  w->output_max = p->output_max;
  w->isa = t->isa;
  w->storage = storage;
  w->weights = static_cast<float*>(storage);
  w->bias = reinterpret_cast<float*>(static_cast<unsigned char*>(storage) + wbytes);
  std::memset(storage, 0, wbytes + bbytes);
  for (int32_t o = 0; o < O; ++o) {
    w->bias[o] = bias != nullptr ? bias[o] : 0.0f;  // [unit][L] is o for both layouts
    for (int32_t ci = 0; ci < I; ++ci)
      for (int32_t k = 0; k < taps; ++k) {
        const float v = weights[(static_cast<int64_t>(o) * I + ci) * taps + k];
        if (L == 1) {
          w->weights[(static_cast<int64_t>(o) * I + ci) * taps + k] = v;
        } else {
          const int32_t u = o / L, chunk = u / 2, half = u % 2, lane = o % L;
          w->weights[((static_cast<int64_t>(chunk) * taps + k) * I + ci) * 2 * L + half * L + lane] = v;
        }
      }
  }
  *out_packed = w;
  return SBNN_OK;
}

extern "C" void sbnn_dconv_free(sbnn_dconv_weights* w) { sbnn::free_packed(w); }

extern "C" sbnn_status sbnn_dconv_get_info(const sbnn_dconv_weights* w, sbnn_dconv_info* info) {
  if (w == nullptr || info == nullptr) return SBNN_ERR_NULL_POINTER;
  info->out_channels = w->out_channels;
  info->in_channels = w->in_channels;
  info->kernel_h = w->kernel_h;
  info->kernel_w = w->kernel_w;
  info->lanes = w->lanes;
  info->isa = w->isa;
  return SBNN_OK;
}

extern "C" const char* sbnn_dconv_variant_for(const sbnn_dconv_weights* w, int32_t sh, int32_t sw) {
  return sbnn::shape_variant_name(sbnn::kDconvIsas, w, sh, sw);
}

extern "C" sbnn_status sbnn_dconv_run(const sbnn_dconv_weights* w, const sbnn_conv_geometry* g, const float* input,
                                      const sbnn_tensor_layout* input_layout, float* output,
                                      const sbnn_tensor_layout* output_layout, const sbnn_executor* executor) {
  using namespace sbnn;
  if (w == nullptr || g == nullptr) return SBNN_ERR_NULL_POINTER;
  if (sbnn_status s = check_tensors(input, output)) return s;
  // Bounds that keep (ox * stride + kx * dilation) in int32.
  if (g->dilation_h > 4096 || g->dilation_w > 4096 || g->stride_w > 4096) return SBNN_ERR_BAD_SHAPE;
  if (sbnn_status s = check_conv_geometry(g, w->kernel_h, w->kernel_w)) return s;
  const int32_t threads = executor ? executor->num_threads : 1;
  if (threads < 1 || threads > kMaxThreads) return SBNN_ERR_EXECUTOR;
  const DconvIsa* t = find_shape_isa(kDconvIsas, w->isa);
  if (t == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  const DconvVariant* v = pick_shape(t, w->kernel_h, w->kernel_w, g->stride_h, g->stride_w);

  DconvContext c{};
  c.w = w;
  if (sbnn_status s = fill_dense_context(&c, g, w->in_channels, w->out_channels, input, input_layout, output,
                                         output_layout, v->pack))
    return s;
  interior_columns(g, w->kernel_w, &c.x_begin, &c.x_end);
  c.items = static_cast<int64_t>(g->batch) * (v->lanes == 1 ? w->out_channels : w->chunks) * g->out_h;
  c.num_tasks = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(threads, c.items)));
  if (v->lanes == 1) zero_tail_lanes(c, w->out_channels);
  DconvJob job{c, v->run_task};
  run_tasks(executor, c.num_tasks, &run_dconv_task, &job);
  return SBNN_OK;
}

extern "C" int32_t sbnn_dconv_variant_count(void) { return sbnn::shape_variant_count(sbnn::kDconvIsas); }

extern "C" sbnn_status sbnn_dconv_variant_get(int32_t index, sbnn_dconv_variant_desc* d) {
  return sbnn::describe_shape_variant(sbnn::kDconvIsas, index, d);
}
