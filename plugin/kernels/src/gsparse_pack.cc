// sbnn_gsparse_pack / free / get_info: dense OIHW -> docs/PACKED_FORMAT.md.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "aligned_alloc.h"
#include "packed_weights.h"
#include "sparsebytenn/gsparse.h"
#include "variants.h"

namespace {

bool valid_group(int32_t g) { return g == 1 || g == 2 || g == 4 || g == 8 || g == 16; }

}  // namespace

extern "C" sbnn_status sbnn_gsparse_pack(const sbnn_pack_params* params, const float* weights,
                                         const float* bias, sbnn_gsparse_weights** out_packed) {
  if (params == nullptr || weights == nullptr || out_packed == nullptr) return SBNN_ERR_NULL_POINTER;
  *out_packed = nullptr;
  const int32_t O = params->out_channels, I = params->in_channels;
  const int32_t kh = params->kernel_h, kw = params->kernel_w, G = params->group_size;
  if (O < 1 || I < 1 || kh < 1 || kw < 1) return SBNN_ERR_BAD_SHAPE;
  // Keep K*T and entry offsets far inside int32.
  if (static_cast<int64_t>(I) * kh * kw > (1 << 20) || O > (1 << 20)) return SBNN_ERR_BAD_SHAPE;
  if (!valid_group(G)) return SBNN_ERR_BAD_GROUP;
  if (std::isnan(params->output_min) || std::isnan(params->output_max) ||
      params->output_min > params->output_max)
    return SBNN_ERR_BAD_PARAM;
  if ((reinterpret_cast<uintptr_t>(weights) & 3) != 0 ||
      (bias != nullptr && (reinterpret_cast<uintptr_t>(bias) & 3) != 0))
    return SBNN_ERR_MISALIGNED;
  const char* isa = (params->isa == nullptr || params->isa[0] == '\0') ? sbnn::default_isa() : params->isa;
  const sbnn::Variant* variant = sbnn::find_variant(isa, G);
  if (variant == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;

  const int32_t taps = kh * kw, T = variant->tile;
  const int32_t num_groups = (O + G - 1) / G;
  const auto W = [&](int32_t o, int32_t ic, int32_t t) {
    return weights[(static_cast<int64_t>(o) * I + ic) * taps + t];
  };
  // Pass 1: count kept entries (an entry = one tap of a kept block with any nonzero).
  int64_t entries = 0, blocks = 0, macs = 0;
  for (int32_t g = 0; g < num_groups; ++g) {
    const int32_t rows = std::min(G, O - g * G);
    for (int32_t ic = 0; ic < I; ++ic) {
      bool kept = false;
      for (int32_t t = 0; t < taps; ++t) {
        bool nz = false;
        for (int32_t r = 0; r < rows && !nz; ++r) nz = W(g * G + r, ic, t) != 0.0f;
        if (nz) { ++entries; macs += rows; kept = true; }
      }
      blocks += kept;
    }
  }
  if (static_cast<int64_t>(I) * taps * T > INT32_MAX || entries >= INT32_MAX) return SBNN_ERR_BAD_SHAPE;

  const size_t gb_bytes = sbnn::round_up64(sizeof(int32_t) * (num_groups + 1));
  const size_t ro_bytes = sbnn::round_up64(sizeof(int32_t) * entries);
  const size_t val_bytes = sbnn::round_up64(sizeof(float) * entries * G);
  const size_t bias_bytes = sbnn::round_up64(sizeof(float) * num_groups * G);
  void* storage = sbnn::alloc_aligned64(gb_bytes + ro_bytes + val_bytes + bias_bytes);
  auto* p = static_cast<sbnn_gsparse_weights*>(std::calloc(1, sizeof(sbnn_gsparse_weights)));
  if (storage == nullptr || p == nullptr) {
    sbnn::free_aligned(storage);
    std::free(p);
    return SBNN_ERR_OUT_OF_MEMORY;
  }
  auto* base = static_cast<unsigned char*>(storage);
  p->storage = storage;
  p->group_begin = reinterpret_cast<int32_t*>(base);
  p->row_offset = reinterpret_cast<int32_t*>(base + gb_bytes);
  p->values = reinterpret_cast<float*>(base + gb_bytes + ro_bytes);
  p->bias = reinterpret_cast<float*>(base + gb_bytes + ro_bytes + val_bytes);
  p->out_channels = O; p->in_channels = I; p->kernel_h = kh; p->kernel_w = kw; p->group_size = G;
  p->num_groups = num_groups; p->tile = T; p->merged_tail = variant->merged_tail;
  p->output_min = params->output_min; p->output_max = params->output_max;
  p->entries = entries; p->nonzero_blocks = blocks; p->nonzero_macs_per_pixel = macs;
  p->variant = variant;

  // Pass 2: fill, ascending k = ic*taps + tap within each group.
  int64_t e = 0;
  for (int32_t g = 0; g < num_groups; ++g) {
    p->group_begin[g] = static_cast<int32_t>(e);
    const int32_t rows = std::min(G, O - g * G);
    for (int32_t ic = 0; ic < I; ++ic) {
      for (int32_t t = 0; t < taps; ++t) {
        bool nz = false;
        for (int32_t r = 0; r < rows && !nz; ++r) nz = W(g * G + r, ic, t) != 0.0f;
        if (!nz) continue;
        p->row_offset[e] = (ic * taps + t) * T;
        for (int32_t r = 0; r < G; ++r) p->values[e * G + r] = r < rows ? W(g * G + r, ic, t) : 0.0f;
        ++e;
      }
    }
    for (int32_t r = 0; r < G; ++r)
      p->bias[g * G + r] = (r < rows && bias != nullptr) ? bias[g * G + r] : 0.0f;
  }
  p->group_begin[num_groups] = static_cast<int32_t>(e);
  if (variant->narrow != nullptr) {  // the f16 family computes in fp16
    variant->narrow(p->values, entries * G);
    variant->narrow(p->bias, static_cast<int64_t>(num_groups) * G);
  }
  *out_packed = p;
  return SBNN_OK;
}

extern "C" void sbnn_gsparse_free(sbnn_gsparse_weights* packed) {
  if (packed == nullptr) return;
  sbnn::free_aligned(packed->storage);
  std::free(packed);
}

extern "C" sbnn_status sbnn_gsparse_get_info(const sbnn_gsparse_weights* p, sbnn_gsparse_info* info) {
  if (p == nullptr || info == nullptr) return SBNN_ERR_NULL_POINTER;
  info->out_channels = p->out_channels; info->in_channels = p->in_channels;
  info->kernel_h = p->kernel_h; info->kernel_w = p->kernel_w; info->group_size = p->group_size;
  info->nonzero_blocks = p->nonzero_blocks;
  info->nonzero_macs_per_pixel = p->nonzero_macs_per_pixel;
  info->variant = p->variant->name;
  info->isa = p->variant->isa;
  return SBNN_OK;
}
