// sbnn_gsparse_fastest_group: which group size to pack a layer with. A layer pruned in
// groups of G also runs packed in larger groups G' (an entry is kept when any of its G'
// weights is nonzero, so correctness never depends on G'), which store the zeros of
// partly kept groups but run faster per stored weight: with AVX-512 a G=1 entry costs
// one activation load per FMA, a G=8 entry shares it between 8 (a G=1 layer at 30 %
// sparsity ran 2.2x faster packed as G=8, fully dense, than as G=1).
#include <cstdint>
#include <cstring>

#include "sparsebytenn/gsparse.h"
#include "variants.h"

namespace {

// Time per stored weight, relative to G=8, per G = 1, 2, 4, 8, 16: the medians over the
// 30-70 % rows of the shipped speed tables (converter/sparsebytenn_converter/speed_tables/
// x86-{avx512,avx2}-intel.json, `sparsebytenn bench speed-table`, MobileNet-V1's 1x1 layer
// shapes at 224 and 96 px) of G=8's GFLOP/s over G's. ISAs not listed keep their G.
struct GroupCosts {
  const char* isa;
  float cost[5];
};
constexpr GroupCosts kCosts[] = {
    {"avx512", {1 / 0.38f, 1 / 0.46f, 1 / 0.74f, 1.0f, 1 / 0.86f}},
    {"avx2", {1 / 0.42f, 1 / 0.71f, 1 / 1.01f, 1.0f, 1 / 0.99f}},
};

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

extern "C" float sbnn_gsparse_group_cost(const char* isa, int32_t group_size) {
  if (isa == nullptr || isa[0] == '\0') isa = sbnn::default_isa();
  const int i = sbnn::group_index(group_size);
  if (i < 0) return 0.0f;
  for (const GroupCosts& c : kCosts)
    if (std::strcmp(c.isa, isa) == 0) return c.cost[i];
  return 0.0f;
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
  if (sbnn_gsparse_group_cost(isa, G) == 0.0f) return SBNN_OK;
  double best = static_cast<double>(stored_weights(weights_oihw, O, I, taps, G)) * sbnn_gsparse_group_cost(isa, G);
  for (int32_t g = 2 * G; g <= 16; g *= 2) {
    if (sbnn::find_variant(isa, g) == nullptr) continue;
    const double cost = static_cast<double>(stored_weights(weights_oihw, O, I, taps, g)) * sbnn_gsparse_group_cost(isa, g);
    if (cost < best) {
      best = cost;
      *group_size = g;
    }
  }
  return SBNN_OK;
}
