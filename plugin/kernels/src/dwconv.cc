// sbnn_dwconv_*: pack, validation, the depthwise variant table and dispatch, run.
#include <cmath>
#include <cstdint>
#include <new>
#include <cstring>
#include <vector>

#include "aligned_alloc.h"
#include "dwconv_task.h"
#include "dense_run.h"
#include "shape_variants.h"
#include "tensor_layout.h"

namespace sbnn {
namespace {

using DwIsa = ShapeIsa<DwVariant>;

// Best first, as in variants.cc; automatic dispatch takes the first runnable one.
const DwIsa kDwIsas[] = {
#if defined(SBNN_HAVE_AVX512)
    {"avx512", kDwAvx512Variants, 5},
#endif
#if defined(SBNN_HAVE_AVX2)
    {"avx2", kDwAvx2Variants, 5},
#endif
    {"ref", kDwRefVariants, 1},
};

constexpr int32_t kMaxThreads = 256;
constexpr int32_t kMaxKernel = 64;  // rows[] of the SIMD task

size_t task_bytes(const sbnn_dwconv_weights* w, const sbnn_conv_geometry* g, int32_t* ring_rows,
                  int32_t* row_width) {
  *ring_rows = (w->kernel_h - 1) * g->dilation_h + 1;
  *row_width = (g->out_w - 1) * g->stride_w + (w->kernel_w - 1) * g->dilation_w + 1;
  if (w->lanes == 1) return 0;  // ref reads the tensors directly
  const size_t row = sizeof(float) * static_cast<size_t>(*row_width) * w->lanes;
  return round_up64(row * (*ring_rows + 1) + sizeof(int32_t) * *ring_rows);
}

sbnn_status check_geometry(const sbnn_dwconv_weights* w, const sbnn_conv_geometry* g) {
  // Bounds that keep the ring-row offsets (x * stride + kx * dilation) * lanes in int32.
  if (g->dilation_h > 4096 || g->dilation_w > 4096 || g->stride_w > 4096) return SBNN_ERR_BAD_SHAPE;
  return check_conv_geometry(g, w->kernel_h, w->kernel_w);
}

struct DwJob {
  DwContext ctx;
  DwTaskFn fn;
};

void run_dw_task(void* job, int32_t task) {
  const DwJob* j = static_cast<const DwJob*>(job);
  j->fn(j->ctx, task);
}

}  // namespace
}  // namespace sbnn

using sbnn::DwVariant;

extern "C" sbnn_status sbnn_dwconv_pack(const sbnn_dwconv_params* p, const float* weights, const float* bias,
                                        sbnn_dwconv_weights** out_packed) {
  if (p == nullptr || weights == nullptr || out_packed == nullptr) return SBNN_ERR_NULL_POINTER;
  *out_packed = nullptr;
  if (p->channels < 1 || p->channels > (1 << 20) || p->kernel_h < 1 || p->kernel_w < 1 ||
      p->kernel_h > sbnn::kMaxKernel || p->kernel_w > sbnn::kMaxKernel)
    return SBNN_ERR_BAD_SHAPE;
  if (std::isnan(p->output_min) || std::isnan(p->output_max) || p->output_min > p->output_max)
    return SBNN_ERR_BAD_PARAM;
  if ((reinterpret_cast<uintptr_t>(weights) & 3) || (bias != nullptr && (reinterpret_cast<uintptr_t>(bias) & 3)))
    return SBNN_ERR_MISALIGNED;
  const sbnn::DwIsa* t = sbnn::choose_shape_isa(sbnn::kDwIsas, p->isa);
  if (t == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  const int32_t L = t->variants[0].lanes, C = p->channels, taps = p->kernel_h * p->kernel_w;
  const int32_t units = (C + L - 1) / L;
  const size_t wbytes = sbnn::round_up64(sizeof(float) * static_cast<size_t>(units) * taps * L);
  const size_t bbytes = sbnn::round_up64(sizeof(float) * static_cast<size_t>(units) * L);
  void* storage = sbnn::alloc_aligned64(wbytes + bbytes);
  auto* w = new (std::nothrow) sbnn_dwconv_weights();
  if (storage == nullptr || w == nullptr) {
    sbnn::free_aligned(storage);
    delete w;
    return SBNN_ERR_OUT_OF_MEMORY;
  }
  w->channels = C;
  w->kernel_h = p->kernel_h;
  w->kernel_w = p->kernel_w;
  w->lanes = L;
  w->units = units;
  w->output_min = p->output_min;
  w->output_max = p->output_max;
  w->isa = t->isa;
  w->storage = storage;
  w->weights = static_cast<float*>(storage);
  w->bias = reinterpret_cast<float*>(static_cast<unsigned char*>(storage) + wbytes);
  std::memset(storage, 0, wbytes + bbytes);
  for (int32_t c = 0; c < C; ++c) {
    const int32_t u = c / L, lane = c % L;
    for (int32_t k = 0; k < taps; ++k)
      w->weights[(static_cast<int64_t>(u) * taps + k) * L + lane] = weights[static_cast<int64_t>(c) * taps + k];
    w->bias[static_cast<int64_t>(u) * L + lane] = bias != nullptr ? bias[c] : 0.0f;
  }
  *out_packed = w;
  return SBNN_OK;
}

extern "C" void sbnn_dwconv_free(sbnn_dwconv_weights* w) { sbnn::free_packed(w); }

extern "C" sbnn_status sbnn_dwconv_get_info(const sbnn_dwconv_weights* w, sbnn_dwconv_info* info) {
  if (w == nullptr || info == nullptr) return SBNN_ERR_NULL_POINTER;
  info->channels = w->channels;
  info->kernel_h = w->kernel_h;
  info->kernel_w = w->kernel_w;
  info->lanes = w->lanes;
  info->isa = w->isa;
  return SBNN_OK;
}

extern "C" const char* sbnn_dwconv_variant_for(const sbnn_dwconv_weights* w, int32_t sh, int32_t sw) {
  return sbnn::shape_variant_name(sbnn::kDwIsas, w, sh, sw);
}

extern "C" size_t sbnn_dwconv_workspace_size(const sbnn_dwconv_weights* w, const sbnn_conv_geometry* g,
                                             int32_t pack, int32_t threads) {
  if (w == nullptr || g == nullptr || threads < 1 || threads > sbnn::kMaxThreads) return 0;
  if (sbnn::check_geometry(w, g) != SBNN_OK) return 0;
  if (!sbnn::valid_pack(pack) || (w->lanes > 1 && pack != 8)) return 0;
  int32_t rr, rw;
  return sbnn::task_bytes(w, g, &rr, &rw) * static_cast<size_t>(threads) + 64;
}

extern "C" sbnn_status sbnn_dwconv_run(const sbnn_dwconv_weights* w, const sbnn_conv_geometry* g, const float* input,
                                       const sbnn_tensor_layout* input_layout, float* output,
                                       const sbnn_tensor_layout* output_layout, const sbnn_executor* executor,
                                       void* workspace, size_t workspace_size) {
  using namespace sbnn;
  if (w == nullptr || g == nullptr) return SBNN_ERR_NULL_POINTER;
  if (sbnn_status s = check_tensors(input, output)) return s;
  if (sbnn_status s = check_geometry(w, g)) return s;
  const int32_t threads = executor ? executor->num_threads : 1;
  if (threads < 1 || threads > kMaxThreads) return SBNN_ERR_EXECUTOR;
  const DwIsa* t = find_shape_isa(kDwIsas, w->isa);
  if (t == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  const DwVariant* v = pick_shape(t, w->kernel_h, w->kernel_w, g->stride_h, g->stride_w);

  DwContext c{};
  c.w = w;
  // One layout in and out; the SIMD variants read NC8HW8 only.
  if (sbnn_status s = fill_dense_context(&c, g, w->channels, w->channels, input, input_layout, output,
                                         output_layout, v->pack))
    return s;
  c.items = static_cast<int64_t>(g->batch) * (v->lanes == 1 ? w->channels : w->units) * g->out_h;
  const size_t per_task = task_bytes(w, g, &c.ring_rows, &c.row_width);
  const int32_t tasks = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(threads, c.items)));
  const size_t needed = per_task * tasks + 64;
  void* owned = nullptr;
  if (per_task > 0) {
    if (workspace == nullptr) {
      owned = alloc_aligned64(needed);
      if (owned == nullptr) return SBNN_ERR_OUT_OF_MEMORY;
      workspace = owned;
    } else if (workspace_size < needed) {
      return SBNN_ERR_WORKSPACE_TOO_SMALL;
    }
    auto* ws = static_cast<unsigned char*>(workspace);
    ws += (64 - (reinterpret_cast<uintptr_t>(ws) & 63)) & 63;
    c.workspace = ws;
  }
  c.task_workspace_bytes = per_task;
  c.num_tasks = tasks;
  if (v->lanes == 1) zero_tail_lanes(c, w->channels);
  DwJob job{c, v->run_task};
  run_tasks(executor, tasks, &run_dw_task, &job);
  free_aligned(owned);
  return SBNN_OK;
}


extern "C" int32_t sbnn_dwconv_variant_count(void) {
  return sbnn::shape_variant_count(sbnn::kDwIsas);
}

extern "C" sbnn_status sbnn_dwconv_variant_get(int32_t index, sbnn_dwconv_variant_desc* d) {
  return sbnn::describe_shape_variant(sbnn::kDwIsas, index, d);
}
