// The one variant table: every (ISA x G) microkernel compiled into this build.
// Dispatch, the testers (via sbnn_variant_get / the `isa` pack parameter) and the
// kernel benchmark all read this table.
#pragma once
#include <cstdint>

#include "run_context.h"

namespace sbnn {

struct Variant {
  const char* name;   // f32_gspmm_{rows}x{tile}__{isa}
  const char* isa;
  int32_t group_size;      // G the task function is specialised for
  int32_t tile;       // pixels per tile (rows of the packed input tile)
  int32_t vector_pixels;  // SIMD width in pixels (cost model of the work split)
  TaskFn run_task;
  // Pixels an image's last tile may take beyond `tile` (packed apart from the
  // tile rows): short tails ride along with the previous tile.
  int32_t merged_tail = 0;
  // Element type of activations, packed values and bias: 4 = float, 2 = IEEE fp16
  // (the f16 family). narrow converts pack's float values / bias in place to it.
  int32_t elem_bytes = 4;
  void (*narrow)(float* data, int64_t count) = nullptr;
};

// Per-ISA tables, defined in f32_gspmm_<isa>.cc (only those compiled in).
// Each holds one entry per G in {1, 2, 4, 8, 16}.
extern const Variant kRefVariants[5];
#if defined(SBNN_HAVE_AVX2)
extern const Variant kAvx2Variants[5];
#endif
#if defined(SBNN_HAVE_AVX512)
extern const Variant kAvx512Variants[5];
#endif
#if defined(SBNN_HAVE_NEON)
extern const Variant kNeonVariants[5];
#endif
#if defined(SBNN_HAVE_NEONFP16)
extern const Variant kNeonFp16Variants[5];   // f16: never picked by automatic dispatch
#endif
#if defined(SBNN_HAVE_WASMSIMD)
extern const Variant kWasmSimdVariants[5];
#endif
#if defined(SBNN_HAVE_WASMRELAXEDSIMD)
extern const Variant kWasmRelaxedSimdVariants[5];
#endif

bool isa_available(const char* isa);
const char* default_isa();
// nullptr when the ISA is unknown/unavailable or G unsupported.
const Variant* find_variant(const char* isa, int32_t group_size);
// 0..4 for G = 1, 2, 4, 8, 16 (the order of the per-ISA variant lists); -1 for any other G.
int group_index(int32_t group_size);
int32_t variant_count();
const Variant* variant_at(int32_t index);

}  // namespace sbnn
