// Status strings and the variant-table queries of the public API.
#include "sparsebytenn/gsparse.h"
#include "variants.h"

namespace sbnn {
bool variant_runs(const Variant* v);
}

extern "C" const char* sbnn_status_string(sbnn_status s) {
  switch (s) {
    case SBNN_OK: return "ok";
    case SBNN_ERR_NULL_POINTER: return "a required pointer is null";
    case SBNN_ERR_BAD_SHAPE: return "bad or inconsistent shape";
    case SBNN_ERR_BAD_GROUP: return "group size G must be 1, 2, 4, 8 or 16";
    case SBNN_ERR_BAD_LAYOUT: return "bad tensor layout (pack must be 1, 4, 8 or 16; strides too small)";
    case SBNN_ERR_BAD_PARAM: return "bad stride, dilation, padding or clamp";
    case SBNN_ERR_MISALIGNED: return "buffer is not 4-byte aligned";
    case SBNN_ERR_OUT_OF_MEMORY: return "out of memory";
    case SBNN_ERR_WORKSPACE_TOO_SMALL: return "workspace too small";
    case SBNN_ERR_UNKNOWN_VARIANT: return "ISA unknown, not compiled in, or not supported by this CPU";
    case SBNN_ERR_EXECUTOR: return "executor num_threads must be in 1..256";
  }
  return "unknown status";
}

extern "C" const char* sbnn_default_isa(void) { return sbnn::default_isa(); }

extern "C" int sbnn_isa_available(const char* isa) { return sbnn::isa_available(isa) ? 1 : 0; }

extern "C" int32_t sbnn_variant_count(void) { return sbnn::variant_count(); }

extern "C" sbnn_status sbnn_variant_get(int32_t index, sbnn_variant_desc* desc) {
  if (desc == nullptr) return SBNN_ERR_NULL_POINTER;
  const sbnn::Variant* v = sbnn::variant_at(index);
  if (v == nullptr) return SBNN_ERR_UNKNOWN_VARIANT;
  desc->name = v->name;
  desc->isa = v->isa;
  desc->group_size = v->group_size;
  desc->tile = v->tile;
  desc->available = sbnn::variant_runs(v) ? 1 : 0;
  return SBNN_OK;
}
