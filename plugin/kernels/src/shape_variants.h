// Per-ISA tables of variants specialised by (kernel, stride), shared by the
// depthwise and the direct conv families: the ISA lookup, the pick of a shape's
// entry, and the flattened view the C API's variant_count / variant_get expose.
// A variant type has kernel_h, kernel_w, stride (0: any); each ISA's table ends
// with its any-shape entry.
#pragma once
#include <cstdint>
#include <cstring>

#include "variants.h"

namespace sbnn {

template <class Variant>
struct ShapeIsa {
  const char* isa;
  const Variant* variants;
  int32_t count;
};

// The table of `isa` when this CPU runs it, else null.
template <class Variant, size_t N>
const ShapeIsa<Variant>* find_shape_isa(const ShapeIsa<Variant> (&tables)[N], const char* isa) {
  for (const ShapeIsa<Variant>& t : tables)
    if (std::strcmp(t.isa, isa) == 0) return isa_available(isa) ? &t : nullptr;
  return nullptr;
}

// An explicit ISA, else the gsparse choice (honours SPARSEBYTENN_ISA) when the
// family has it, else ref.
template <class Variant, size_t N>
const ShapeIsa<Variant>* choose_shape_isa(const ShapeIsa<Variant> (&tables)[N], const char* isa) {
  if (isa != nullptr && isa[0] != '\0') return find_shape_isa(tables, isa);
  const ShapeIsa<Variant>* t = find_shape_isa(tables, default_isa());
  return t != nullptr ? t : find_shape_isa(tables, "ref");
}

// A specialised entry for (kh, kw, stride) or the ISA's last, any-shape entry.
template <class Variant>
const Variant* pick_shape(const ShapeIsa<Variant>* t, int32_t kh, int32_t kw, int32_t sh, int32_t sw) {
  for (int32_t i = 0; i < t->count; ++i) {
    const Variant& v = t->variants[i];
    if (v.kernel_h == kh && v.kernel_w == kw && v.stride == sh && sh == sw) return &v;
  }
  return &t->variants[t->count - 1];
}

template <class Variant, size_t N>
int32_t shape_variant_count(const ShapeIsa<Variant> (&tables)[N]) {
  int32_t n = 0;
  for (const ShapeIsa<Variant>& t : tables) n += t.count;
  return n;
}

template <class Variant, size_t N>
const Variant* shape_variant_at(const ShapeIsa<Variant> (&tables)[N], int32_t index) {
  for (const ShapeIsa<Variant>& t : tables) {
    if (index < t.count) return &t.variants[index];
    index -= t.count;
  }
  return nullptr;
}

}  // namespace sbnn

namespace sbnn {

// variant_get of a family's C API: the entry at a flattened index, described.
template <class Variant, size_t N, class Desc>
sbnn_status describe_shape_variant(const ShapeIsa<Variant> (&tables)[N], int32_t index, Desc* d) {
  if (d == nullptr) return SBNN_ERR_NULL_POINTER;
  const Variant* v = shape_variant_at(tables, index);
  if (v == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  d->name = v->name;
  d->isa = v->isa;
  d->kernel_h = v->kernel_h;
  d->kernel_w = v->kernel_w;
  d->stride = v->stride;
  d->available = isa_available(v->isa) ? 1 : 0;
  return SBNN_OK;
}

}  // namespace sbnn

namespace sbnn {

// variant_for of a family's C API: the entry a packed object of it runs for these strides.
template <class Variant, size_t N, class Packed>
const char* shape_variant_name(const ShapeIsa<Variant> (&tables)[N], const Packed* w, int32_t sh, int32_t sw) {
  if (w == nullptr) return nullptr;
  const ShapeIsa<Variant>* t = find_shape_isa(tables, w->isa);
  return t ? pick_shape(t, w->kernel_h, w->kernel_w, sh, sw)->name : nullptr;
}

}  // namespace sbnn
