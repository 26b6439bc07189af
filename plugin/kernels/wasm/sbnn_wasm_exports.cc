// wasm32 reactor module: the gsparse C API flattened to scalar arguments
// (pointers are i32 offsets into linear memory) for hosts such as wasmtime.
#include <cstdlib>

#include "sparsebytenn/gsparse.h"

#define SBNN_EXPORT(name) extern "C" __attribute__((export_name(name)))

SBNN_EXPORT("wmalloc") void* wmalloc(size_t n) { return std::aligned_alloc(64, (n + 63) & ~size_t(63)); }
SBNN_EXPORT("wfree") void wfree(void* p) { std::free(p); }

SBNN_EXPORT("pack") int pack(int o, int i, int kh, int kw, int g, float lo, float hi, const char* isa,
                             const float* weights, const float* bias, sbnn_gsparse_weights** out) {
  sbnn_pack_params p{o, i, kh, kw, g, lo, hi, isa};
  return sbnn_gsparse_pack(&p, weights, bias, out);
}

SBNN_EXPORT("free_packed") void free_packed(sbnn_gsparse_weights* w) { sbnn_gsparse_free(w); }

SBNN_EXPORT("run") int run(const sbnn_gsparse_weights* w, int n, int ih, int iw, int oh, int ow, int sh, int sw,
                           int dh, int dw, int pt, int pl, int pb, int pr, const float* in, int in_pack,
                           float* out, int out_pack, int threads) {
  sbnn_conv_geometry g{n, ih, iw, oh, ow, sh, sw, dh, dw, pt, pl, pb, pr};
  sbnn_tensor_layout li{in_pack, 0, 0}, lo{out_pack, 0, 0};
  sbnn_executor ex{nullptr, nullptr, threads};
  return sbnn_gsparse_run(w, &g, in, &li, out, &lo, &ex, nullptr, 0);
}

// info: int32 O, I, kh, kw, G, nonzero_blocks, nonzero_macs_per_pixel, variant ptr, isa ptr
SBNN_EXPORT("info") int info(const sbnn_gsparse_weights* w, int* dst) {
  sbnn_gsparse_info in{};
  const sbnn_status s = sbnn_gsparse_get_info(w, &in);
  if (s != SBNN_OK) return s;
  dst[0] = in.out_channels; dst[1] = in.in_channels; dst[2] = in.kernel_h; dst[3] = in.kernel_w;
  dst[4] = in.group_size; dst[5] = static_cast<int>(in.nonzero_blocks);
  dst[6] = static_cast<int>(in.nonzero_macs_per_pixel);
  dst[7] = static_cast<int>(reinterpret_cast<uintptr_t>(in.variant));
  dst[8] = static_cast<int>(reinterpret_cast<uintptr_t>(in.isa));
  return SBNN_OK;
}

SBNN_EXPORT("variant_count") int variant_count() { return sbnn_variant_count(); }

// desc: int32 name ptr, isa ptr, group, tile, available
SBNN_EXPORT("variant_get") int variant_get(int index, int* dst) {
  sbnn_variant_desc d{};
  const sbnn_status s = sbnn_variant_get(index, &d);
  if (s != SBNN_OK) return s;
  dst[0] = static_cast<int>(reinterpret_cast<uintptr_t>(d.name));
  dst[1] = static_cast<int>(reinterpret_cast<uintptr_t>(d.isa));
  dst[2] = d.group_size; dst[3] = d.tile; dst[4] = d.available;
  return SBNN_OK;
}

SBNN_EXPORT("default_isa") const char* default_isa() { return sbnn_default_isa(); }
SBNN_EXPORT("isa_available") int isa_available(const char* isa) { return sbnn_isa_available(isa); }
SBNN_EXPORT("status_string") const char* status_string(int s) {
  return sbnn_status_string(static_cast<sbnn_status>(s));
}
