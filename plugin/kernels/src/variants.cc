#include "variants.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#if defined(SBNN_HAVE_NEONFP16)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace sbnn {
namespace {

struct IsaTable {
  const char* isa;
  const Variant* variants;
};

// Best first: automatic dispatch takes the first available ISA.
const IsaTable kIsas[] = {
#if defined(SBNN_HAVE_AVX512)
    {"avx512", kAvx512Variants},
#endif
#if defined(SBNN_HAVE_AVX2)
    {"avx2", kAvx2Variants},
#endif
#if defined(SBNN_HAVE_NEON)
    {"neon", kNeonVariants},
#endif
#if defined(SBNN_HAVE_NEONFP16)
    {"neonfp16", kNeonFp16Variants},   // f16 activations: asked for by name only
#endif
#if defined(SBNN_HAVE_WASMRELAXEDSIMD)
    {"wasmrelaxedsimd", kWasmRelaxedSimdVariants},   // only in the relaxed .wasm
#endif
#if defined(SBNN_HAVE_WASMSIMD)
    {"wasmsimd", kWasmSimdVariants},
#endif
    {"ref", kRefVariants},
};
constexpr int kNumIsas = sizeof(kIsas) / sizeof(kIsas[0]);

bool cpu_runs(const char* isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (std::strcmp(isa, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
  if (std::strcmp(isa, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(SBNN_HAVE_NEONFP16)
  if (std::strcmp(isa, "neonfp16") == 0) return (getauxval(AT_HWCAP) & HWCAP_ASIMDHP) != 0;
#endif
  (void)isa;
  return true;  // NEON is baseline on aarch64; SIMD128 / relaxed SIMD are compile-time
                // features (an engine without them refuses the whole module)
}

const IsaTable* find_isa(const char* isa) {
  if (isa == nullptr) return nullptr;
  for (const IsaTable& t : kIsas)
    if (std::strcmp(t.isa, isa) == 0) return cpu_runs(isa) ? &t : nullptr;
  return nullptr;
}

const char* compute_default_isa() {
  const char* env = std::getenv("SPARSEBYTENN_ISA");
  if (env != nullptr && env[0] != '\0') {
    if (const IsaTable* t = find_isa(env); t != nullptr && t->variants[0].elem_bytes == 4) return t->isa;
    std::fprintf(stderr, "sparsebytenn: SPARSEBYTENN_ISA=%s is not an fp32 ISA available here; using automatic dispatch\n", env);
  }
  for (const IsaTable& t : kIsas)
    if (t.variants[0].elem_bytes == 4 && cpu_runs(t.isa)) return t.isa;
  return "ref";
}

}  // namespace

int group_index(int32_t g) {
  switch (g) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    case 16: return 4;
    default: return -1;
  }
}

bool isa_available(const char* isa) { return find_isa(isa) != nullptr; }

// Re-read every call: tests and benchmarks flip SPARSEBYTENN_ISA in-process.
const char* default_isa() { return compute_default_isa(); }

const Variant* find_variant(const char* isa, int32_t group_size) {
  const IsaTable* t = find_isa(isa);
  const int gi = group_index(group_size);
  if (t == nullptr || gi < 0) return nullptr;
  return &t->variants[gi];
}

int32_t variant_count() { return kNumIsas * 5; }

const Variant* variant_at(int32_t index) {
  if (index < 0 || index >= variant_count()) return nullptr;
  return &kIsas[index / 5].variants[index % 5];
}

bool variant_runs(const Variant* v) { return cpu_runs(v->isa); }

}  // namespace sbnn
