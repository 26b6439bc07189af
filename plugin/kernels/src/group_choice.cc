// sbnn_gsparse_fastest_group: which group size to pack a layer with. A layer pruned in
// groups of G also runs packed in larger groups G' (an entry is kept when any of its G'
// weights is nonzero, so correctness never depends on G'), which store the zeros of
// partly kept groups but run faster per stored weight and per output channel: with AVX-512
// a G=1 entry costs one activation load per FMA, a G=8 entry shares it between 8 (a G=1
// layer at 30 % sparsity ran 2.2x faster packed as G=8, fully dense, than as G=1).
#include <cstdint>
#include <cstring>

#include "sparsebytenn/gsparse.h"
#include "variants.h"

namespace {

// A pack's time per output pixel = per_weight x stored weights + per_channel x output channels,
// in units of G=8's per_weight, per G = 1, 2, 4, 8, 16: least-squares fits (relative to each
// row) of the shipped speed tables, every layer and sparsity (converter/sparsebytenn_converter/
// speed_tables/x86-<isa>-<vendor>.json, `sparsebytenn bench speed-table`; the converter fits
// the same terms from the table it picks, SpeedTable.costs, preferring this CPU's vendor as
// here). per_channel is what a G < 8 pack pays per output channel for scattering its rows
// into NC8HW8 through a buffer (AVX-512 G = 8 stores straight from its accumulators): with
// per-weight costs alone, a 112x112 32->64 layer pruned as G = 2 at 90 % stayed G = 2 and ran
// 2.5x slower than packed as G = 8. ISAs not listed keep their G.
struct GroupCosts {
  const char* isa;
  const char* vendor;
  sbnn_group_cost cost[5];
};
constexpr GroupCosts kCosts[] = {
    {"avx512", "intel", {{2.782f, 35.07f}, {1.772f, 34.03f}, {1.163f, 40.35f}, {1.0f, 12.04f}, {1.22f, 14.59f}}},
    {"avx512", "amd", {{2.377f, 0.0f}, {1.296f, 11.1f}, {1.025f, 25.1f}, {1.0f, 11.2f}, {1.019f, 12.9f}}},
    {"avx2", "intel", {{1.992f, 28.84f}, {1.149f, 21.01f}, {0.895f, 6.405f}, {1.0f, 9.174f}, {0.9696f, 7.47f}}},
};

const char* host_vendor() {
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_is("amd")) return "amd";
#endif
  return "intel";
}

// Weights packed in groups of g: kept (group, input channel, tap) entries x g.
int64_t stored_weights(const float* w, int32_t O, int32_t I, int32_t taps, int32_t g) {
  int64_t entries = 0;
  for (int32_t o0 = 0; o0 < O; o0 += g) {
    const int32_t rows = O - o0 < g ? O - o0 : g;
    for (int32_t ic = 0; ic < I; ++ic)
      for (int32_t t = 0; t < taps; ++t) {
        bool nz = false;
        for (int32_t r = 0; r < rows && !nz; ++r) nz = w[(static_cast<int64_t>(o0 + r) * I + ic) * taps + t] != 0.0f;
        entries += nz;
      }
  }
  return entries * g;
}

}  // namespace

extern "C" sbnn_group_cost sbnn_gsparse_group_cost(const char* isa, const char* vendor, int32_t group_size) {
  if (isa == nullptr || isa[0] == '\0') isa = sbnn::default_isa();
  if (vendor == nullptr || vendor[0] == '\0') vendor = host_vendor();
  const int i = sbnn::group_index(group_size);
  const GroupCosts* found = nullptr;
  if (i >= 0)
    for (const GroupCosts& c : kCosts)  // this vendor's fits, else Intel's
      if (std::strcmp(c.isa, isa) == 0 && (found == nullptr || std::strcmp(c.vendor, vendor) == 0)) found = &c;
  return found != nullptr ? found->cost[i] : sbnn_group_cost{0.0f, 0.0f};
}

extern "C" sbnn_status sbnn_gsparse_fastest_group(const sbnn_pack_params* params, const float* weights_oihw,
                                                  int32_t* group_size) {
  if (params == nullptr || weights_oihw == nullptr || group_size == nullptr) return SBNN_ERR_NULL_POINTER;
  const int32_t O = params->out_channels, I = params->in_channels, G = params->group_size;
  const int32_t taps = params->kernel_h * params->kernel_w;
  if (O < 1 || I < 1 || params->kernel_h < 1 || params->kernel_w < 1) return SBNN_ERR_BAD_SHAPE;
  if (sbnn::group_index(G) < 0) return SBNN_ERR_BAD_GROUP;
  const char* isa = (params->isa == nullptr || params->isa[0] == '\0') ? sbnn::default_isa() : params->isa;
  *group_size = G;
  if (sbnn_gsparse_group_cost(isa, nullptr, G).per_weight == 0.0f) return SBNN_OK;
  auto time = [&](int32_t g) {
    const sbnn_group_cost c = sbnn_gsparse_group_cost(isa, nullptr, g);
    return static_cast<double>(stored_weights(weights_oihw, O, I, taps, g)) * c.per_weight +
           static_cast<double>(O) * c.per_channel;
  };
  double best = time(G);
  for (int32_t g = 2 * G; g <= 16; g *= 2) {
    if (sbnn::find_variant(isa, g) == nullptr) continue;
    const double cost = time(g);
    if (cost < best) {
      best = cost;
      *group_size = g;
    }
  }
  return SBNN_OK;
}
