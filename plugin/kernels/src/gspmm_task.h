// The group-sparse conv task, written once over a SIMD "Vec" traits struct and
// compiled once per ISA (f32_gspmm_<isa>.cc includes this after defining Vec).
//
// Per pixel tile: pack the input tile channel-major (im2col over the taps, zero
// padding) into a contiguous [K][T] buffer, then per output group run the
// R-rows x NV-vectors microkernel (accumulators stay in registers; per kept
// entry: NV tile loads, R weight broadcasts, R*NV FMAs) into a [G][T] block that
// is stored into NCHW or NC{P}HW{P} (or, when the ISA can, transposed in
// registers straight into the NC{P}HW{P} output block). A task owns a
// contiguous range of (tile, group) work items (gsparse_run.cc, partition).
//
// Everything here has internal linkage (anonymous namespace) so that the copies
// compiled with -mavx512f etc. can never be picked by the linker for another ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "run_context.h"

namespace sbnn {
namespace {

inline int32_t imin32(int32_t a, int32_t b) { return a < b ? a : b; }
inline int64_t imin64(int64_t a, int64_t b) { return a < b ? a : b; }

// The element type a Vec computes in: Vec::elem when it declares one (the f16
// family: __fp16 activations, weights, bias and accumulators), else float.
template <class V, class = void>
struct Elem { using type = float; };
template <class V>
struct Elem<V, std::void_t<typename V::elem>> { using type = typename V::elem; };
template <class V>
using elem_t = typename Elem<V>::type;

// nc_out != nullptr: write the R rows straight into one channel block of
// NC{P}HW{P} at nc_out (np valid pixels) instead of obuf; only microkernels
// whose R has a store_nc get it (the caller checks).
template <class E>
using GspmmFnT = void (*)(const E* tile, const int32_t* row_offset, const E* values, int32_t entries,
                          int32_t value_stride, const E* bias, float lo, float hi, E* obuf, int32_t obuf_stride,
                          E* nc_out, int32_t np);

// ISAs that can transpose R accumulator rows x one vector of pixels in
// registers provide, per such R (kBlockP or a divisor of it),
//   store_nc(reg (&col)[R], dst, np): -> np (<= W) pixels x R channels at dst,
//   pixel stride kBlockP (R < kBlockP: R lanes of the block's pixels).
// The [G][T] output block round trip through memory disappears.
template <class V, int R, class = void>
struct DirectRows : std::false_type {};
template <class V, int R>
struct DirectRows<V, R, decltype(V::store_nc(std::declval<typename V::reg (&)[R]>(),
                                             static_cast<elem_t<V>*>(nullptr), int32_t{}))> : std::true_type {};

// ISAs with an FMA by vector lane set Vec::kLaneFma and provide
// fma_lane<l>(acc, x, wv) = acc + x * wv[l], for l < Vec::W (weights per register).
template <class V, class = void>
struct HasLaneFma { static constexpr bool value = false; };
template <class V>
struct HasLaneFma<V, decltype(void(V::kLaneFma))> { static constexpr bool value = V::kLaneFma; };

// ... and when they also provide load_low(p) (the low half of a register from
// W / 2 values, the rest zero), R = W / 2 rows take their weights in one half
// register too: NEON fp16 G = 4, one ldr d instead of 4 broadcasts per entry.
template <class V, class = void>
struct HasLoadLow : std::false_type {};
template <class V>
struct HasLoadLow<V, decltype(void(V::load_low(static_cast<const elem_t<V>*>(nullptr))))> : std::true_type {};

// Makes the compiler store v before this point and reload it after (x86: frees
// vector registers for a loop in between; elsewhere there are enough).
template <class T>
inline void park_in_memory(T& v) {
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+m"(v));
#else
  (void)v;
#endif
}

// rows[l][v] += x * wv[l] for every lane l of one weight register.
template <class V, int NV, int... L>
inline void fma_lanes(typename V::reg (*rows)[NV], int v, typename V::reg x, typename V::reg wv,
                      std::integer_sequence<int, L...>) {
  ((rows[L][v] = V::template fma_lane<L>(rows[L][v], x, wv)), ...);
}

// R output rows x NV vectors of pixels. values: entry e's R weights at
// values[e*value_stride + r]; obuf row r at obuf[r*obuf_stride].
template <class V, int R, int NV, class E = elem_t<V>>
void gspmm_rows(const E* tile, const int32_t* row_offset, const E* values, int32_t entries,
                int32_t value_stride, const E* bias, float lo, float hi, E* obuf, int32_t obuf_stride, E* nc_out,
                int32_t np) {
  using reg = typename V::reg;
  constexpr int W = V::W;
  // lo / hi wait in memory: in registers they take two of the 16 x86 vector
  // registers across the entry loop and GCC spills an accumulator instead.
  float clamp[2] = {lo, hi};
  park_in_memory(clamp);
  reg acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const reg b = V::set1(bias[r]);
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = b;
  }
  for (int32_t e = 0; e < entries; ++e) {
    const E* x = tile + row_offset[e];
    const E* w = values + static_cast<ptrdiff_t>(e) * value_stride;
    reg xv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) xv[v] = V::load(x + v * W);
    if constexpr (HasLaneFma<V>::value && HasLoadLow<V>::value && 2 * R == W) {
      const reg wv = V::load_low(w);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) fma_lanes<V, NV>(acc, v, xv[v], wv, std::make_integer_sequence<int, R>{});
    } else if constexpr (HasLaneFma<V>::value && R % W == 0) {
      // W weights per register, FMA by lane (NEON fmla v.4s, v.4s, v.s[l] / v.8h, v.8h, v.h[l]):
      // R/W weight registers instead of R broadcasts keeps R x NV accumulators in registers.
#pragma GCC unroll 4
      for (int r = 0; r < R; r += W) {
        const reg wv = V::load(w + r);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) fma_lanes<V, NV>(acc + r, v, xv[v], wv, std::make_integer_sequence<int, W>{});
      }
    } else {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const reg wr = V::set1(w[r]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(xv[v], wr, acc[r][v]);
      }
    }
  }
  park_in_memory(clamp);
  lo = clamp[0];
  hi = clamp[1];
  if (lo != -__builtin_inff() || hi != __builtin_inff()) {  // fused ReLU / ReLU6 / clamp
    const reg vlo = V::set1(lo), vhi = V::set1(hi);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = V::max(V::min(acc[r][v], vhi), vlo);
  }
  if constexpr (DirectRows<V, R>::value) {
    if (nc_out != nullptr) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        reg col[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) col[r] = acc[r][v];
        V::store_nc(col, nc_out + v * W * V::kBlockP, np - v * W);
      }
      return;
    }
  }
  (void)nc_out;
  (void)np;
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) V::store(obuf + r * obuf_stride + v * W, acc[r][v]);
}

// Smallest microkernel covering nv vectors, so pixel tails stay vector code.
template <class V, int R, int NV>
GspmmFnT<elem_t<V>> pick_nv(int nv) {
  if constexpr (NV == 1) {
    (void)nv;
    return &gspmm_rows<V, R, 1>;
  } else {
    return nv >= NV ? &gspmm_rows<V, R, NV> : pick_nv<V, R, NV - 1>(nv);
  }
}

// Narrow pixel tails (np <= W) of a group of exactly W rows: the rows sit in the
// vector lanes and each pixel has its own accumulator (acc[p] += w[e][0..W) *
// x[e][p]). The R x 1 microkernel would run W / R chunks of R latency-bound FMA
// chains per entry whatever np is; here np FMAs per entry, the entries split U
// ways into independent sums when there are few pixels (FMA latency).
// nc_out: the group is one NC{W}HW{W} channel block, pixel p at nc_out + p*W.
// ISAs that want it set Vec::kLanesTail.
template <class V, class = void>
struct LanesTail { static constexpr bool value = false; };
template <class V>
struct LanesTail<V, decltype(void(V::kLanesTail))> { static constexpr bool value = V::kLanesTail; };

// xs: the NP pixels of every input row k, compact at xs[k * NP + p] (k =
// row_offset / T): rows of a T-pixel tile would touch one cache line per
// entry, K of them (64 KB at K = 1024), for a pixel or a few.
using LanesFn = void (*)(const float* xs, const int32_t* row_offset, const float* values,
                         int32_t entries, int32_t value_stride, const float* bias, float lo, float hi, float* obuf,
                         int32_t obuf_stride, float* nc_out);

template <class V, int NP, int T>
void gspmm_lanes(const float* xs, const int32_t* row_offset, const float* values,
                 int32_t entries, int32_t value_stride, const float* bias, float lo, float hi, float* obuf,
                 int32_t obuf_stride, float* nc_out) {
  using reg = typename V::reg;
  constexpr int W = V::W;
  constexpr int U = NP <= 2 ? 4 : (NP <= 4 ? 2 : 1);
  float clamp[2] = {lo, hi};
  park_in_memory(clamp);
  reg acc[U][NP];
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    acc[0][p] = V::load(bias);
#pragma GCC unroll 4
    for (int u = 1; u < U; ++u) acc[u][p] = V::set1(0.0f);
  }
  int32_t e = 0;
  for (; e + U <= entries; e += U) {
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) {
      const float* x = xs + row_offset[e + u] / T * NP;
      const reg wv = V::load(values + static_cast<ptrdiff_t>(e + u) * value_stride);
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) acc[u][p] = V::fma(V::set1(x[p]), wv, acc[u][p]);
    }
  }
  for (; e < entries; ++e) {
    const float* x = xs + row_offset[e] / T * NP;
    const reg wv = V::load(values + static_cast<ptrdiff_t>(e) * value_stride);
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) acc[0][p] = V::fma(V::set1(x[p]), wv, acc[0][p]);
  }
  park_in_memory(clamp);
  const reg vlo = V::set1(clamp[0]), vhi = V::set1(clamp[1]);
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
#pragma GCC unroll 4
    for (int u = 1; u < U; ++u) acc[0][p] = V::add(acc[0][p], acc[u][p]);
    acc[0][p] = V::max(V::min(acc[0][p], vhi), vlo);
    if (nc_out != nullptr) {
      V::store(nc_out + p * W, acc[0][p]);
    } else {
      float col[W];
      V::store(col, acc[0][p]);
#pragma GCC unroll 16
      for (int r = 0; r < W; ++r) obuf[r * obuf_stride + p] = col[r];
    }
  }
}

// The Vec whose lanes hold a group's rows in the lanes tail: V, or V::Half when G
// is the width of V's half register (AVX-512, G = 8: a ymm).
template <class V, int G, class = void>
struct LanesVec { using type = V; };
template <class V, int G>
struct LanesVec<V, G, std::enable_if_t<G == V::Half::W>> { using type = typename V::Half; };

template <class V, int NP, int T>
LanesFn pick_lanes(int np) {
  if constexpr (NP == 1) {
    (void)np;
    return &gspmm_lanes<V, 1, T>;
  } else {
    return np >= NP ? &gspmm_lanes<V, NP, T> : pick_lanes<V, NP - 1, T>(np);
  }
}

// ISAs with vector code for one channel block of MNN's layout set Vec::kBlockP
// (the P it handles: 8 on x86, 4 on NEON / WASM) and provide
//   int32_t unpack_block(src, np, rows, T): [np pixels][P] -> rows[l*T + p];
//           returns how many pixels per row it wrote (>= np, zeros beyond np);
//   void    pack_block(rows, T, dst, np):   rows[l*T + p] -> [np pixels][P]
//           (rows readable up to T pixels).
template <class V, class = void>
struct BlockP { static constexpr int value = 0; };
template <class V>
struct BlockP<V, decltype(void(V::kBlockP))> { static constexpr int value = V::kBlockP; };

// Pixels [p, np) of one NC{P}HW{P} block <-> rows[l*T + p], scalar: the tails the
// ISAs' vector transposes in unpack_block / pack_block leave, and the generic path.
template <int P, class E>
inline void unpack_pixels(const E* src, int32_t p, int32_t np, E* rows, int32_t T) {
  for (; p < np; ++p)
#pragma GCC unroll 16
    for (int l = 0; l < P; ++l) rows[l * T + p] = src[p * P + l];
}
template <int P, class E>
inline void pack_pixels(const E* rows, int32_t T, E* dst, int32_t p, int32_t np) {
  for (; p < np; ++p)
#pragma GCC unroll 16
    for (int l = 0; l < P; ++l) dst[p * P + l] = rows[l * T + p];
}

// [np pixels][P lanes] -> rows [lane][T] (lanes <= P valid channels).
template <int P, class E>
inline void unpack_channels(const E* src, int32_t np, int32_t lanes, E* rows, int32_t T) {
  if (lanes == P) {
    unpack_pixels<P>(src, 0, np, rows, T);
  } else {
    for (int32_t p = 0; p < np; ++p)
      for (int32_t l = 0; l < lanes; ++l) rows[l * T + p] = src[p * P + l];
  }
}

// Returns the pixels per row written (the caller zero-fills the rest up to T).
template <class V, class E = elem_t<V>>
inline int32_t unpack_channels_any(int32_t P, const E* src, int32_t np, int32_t lanes, E* rows, int32_t T) {
  if constexpr (BlockP<V>::value != 0) {
    if (P == BlockP<V>::value && lanes == P) return V::unpack_block(src, np, rows, T);
  }
  switch (P) {
    case 4: unpack_channels<4>(src, np, lanes, rows, T); break;
    case 8: unpack_channels<8>(src, np, lanes, rows, T); break;
    default: unpack_channels<16>(src, np, lanes, rows, T); break;
  }
  return np;
}

// Input tile of image n, output pixels [p0, p0+np) -> tile[K][T], K = I*kh*kw.
// Rows are zero beyond np (up to the last vector the microkernel reads) so the
// tail microkernel never reads stale values.
template <class V, class E = elem_t<V>>
inline void pack_tile(const RunContext& c, int32_t n, int32_t p0, int32_t np, E* tile, int32_t* offs,
                      int32_t T) {
  const sbnn_gsparse_weights* w = c.w;
  const int32_t I = w->in_channels;
  const E* in = static_cast<const E*>(c.in) + n * c.in_batch_stride;
  if (c.contiguous_1x1) {
    // The microkernel reads whole vectors: zero up to the last one, not to T.
    const int32_t read = imin32(T, (np + V::W - 1) / V::W * V::W);
    if (c.in_pack == 1) {
      for (int32_t ic = 0; ic < I; ++ic) {
        E* row = tile + static_cast<ptrdiff_t>(ic) * T;
        std::memcpy(row, in + ic * c.in_block_stride + p0, sizeof(E) * np);
        if (np < read) std::memset(row + np, 0, sizeof(E) * (read - np));
      }
    } else {
      const int32_t P = c.in_pack;
      for (int32_t b = 0; b * P < I; ++b) {
        const int32_t lanes = imin32(P, I - b * P);
        E* rows = tile + static_cast<ptrdiff_t>(b) * P * T;
        const int32_t written = unpack_channels_any<V>(
            P, in + b * c.in_block_stride + static_cast<int64_t>(p0) * P, np, lanes, rows, T);
        if (written < read)
          for (int32_t l = 0; l < lanes; ++l)
            std::memset(rows + l * T + written, 0, sizeof(E) * (read - written));
      }
    }
    return;
  }
  // General case: per tap, the input pixel offset of every tile pixel (-1 = padding).
  const int32_t kh = w->kernel_h, kw = w->kernel_w, taps = kh * kw;
  for (int32_t ky = 0; ky < kh; ++ky) {
    for (int32_t kx = 0; kx < kw; ++kx) {
      int32_t* off = offs + (ky * kw + kx) * T;
      int32_t oh = p0 / c.out_w, ow = p0 % c.out_w;
      for (int32_t p = 0; p < T; ++p) {
        int32_t o = -1;
        if (p < np) {
          const int32_t ih = oh * c.stride_h - c.pad_top + ky * c.dilation_h;
          const int32_t iw = ow * c.stride_w - c.pad_left + kx * c.dilation_w;
          if (ih >= 0 && ih < c.in_h && iw >= 0 && iw < c.in_w) o = ih * c.in_w + iw;
          if (++ow == c.out_w) { ow = 0; ++oh; }
        }
        off[p] = o;
      }
    }
  }
  const int32_t P = c.in_pack;
  for (int32_t ic = 0; ic < I; ++ic) {
    const E* src = P == 1 ? in + ic * c.in_block_stride : in + (ic / P) * c.in_block_stride + ic % P;
    for (int32_t t = 0; t < taps; ++t) {
      E* row = tile + (static_cast<ptrdiff_t>(ic) * taps + t) * T;
      const int32_t* off = offs + t * T;
      for (int32_t p = 0; p < T; ++p)
        row[p] = off[p] >= 0 ? src[static_cast<int64_t>(off[p]) * P] : E(0);
    }
  }
}

// [G][T] block of output group g (rows T = tile + merged_tail apart) -> NCHW or
// NC{P}HW{P}, only rows < O, pixels < np.
template <class V, class E = elem_t<V>>
inline void store_group(const RunContext& c, int32_t n, int32_t g, int32_t p0, int32_t np, const E* obuf) {
  const sbnn_gsparse_weights* w = c.w;
  const int32_t G = w->group_size, T = w->tile + w->merged_tail;
  const int32_t c0 = g * G, rows = imin32(G, w->out_channels - c0);
  E* out = static_cast<E*>(c.out) + n * c.out_batch_stride;
  if (c.out_pack == 1) {
    for (int32_t r = 0; r < rows; ++r)
      std::memcpy(out + (c0 + r) * c.out_block_stride + p0, obuf + r * T, sizeof(E) * np);
    return;
  }
  const int32_t P = c.out_pack;
  int32_t r = 0;
  if constexpr (BlockP<V>::value != 0) {
    // Whole channel blocks of NC{P}HW{P}: vector transposes (tails included).
    constexpr int BP = BlockP<V>::value;
    if (P == BP && c0 % BP == 0) {
      for (; r + BP <= rows; r += BP)
        V::pack_block(obuf + r * T, T, out + ((c0 + r) / BP) * c.out_block_stride + static_cast<int64_t>(p0) * BP,
                      np);
    }
  }
  for (; r < rows; ++r) {
    const int32_t ch = c0 + r;
    E* dst = out + (ch / P) * c.out_block_stride + static_cast<int64_t>(p0) * P + ch % P;
    const E* src = obuf + r * T;
    for (int32_t p = 0; p < np; ++p) dst[p * P] = src[p];
  }
}

// Values and bias of the packed weights are in E (the f16 family's pack narrows
// them in place, Variant::narrow); the workspace is sized for float, so E fits.
template <class V, int G, int R, int NVMAX>
void run_task(const RunContext& c, int32_t task) {
  static_assert(G % R == 0 || R > G, "row chunk must tile the group");
  using E = elem_t<V>;
  const sbnn_gsparse_weights* w = c.w;
  const int32_t T = w->tile;
  const int32_t K = w->in_channels * w->kernel_h * w->kernel_w;
  const E* values_all = reinterpret_cast<const E*>(w->values);
  const E* bias = reinterpret_cast<const E*>(w->bias);
  unsigned char* ws = c.workspace + c.task_workspace_bytes * static_cast<size_t>(task);
  E* tile = reinterpret_cast<E*>(ws);
  E* obuf = reinterpret_cast<E*>(ws + ((sizeof(float) * K * T + 63) & ~size_t(63)));
  const int32_t OT = T + w->merged_tail;  // obuf row stride: a merged tail's pixels go there too
  int32_t* offs = reinterpret_cast<int32_t*>(reinterpret_cast<unsigned char*>(obuf) +
                                             ((sizeof(float) * G * OT + 63) & ~size_t(63)));
  const int32_t taps = w->kernel_h * w->kernel_w;
  // Compact pixels of a merged tail (K x merged_tail floats) for the lanes kernel.
  E* xs = reinterpret_cast<E*>(reinterpret_cast<unsigned char*>(offs) +
                                       ((sizeof(int32_t) * taps * T + 63) & ~size_t(63)));
  const int32_t out_pixels = c.out_h * c.out_w;
  const int32_t groups = w->num_groups;
  const int64_t item_begin = c.task_items[task], item_end = c.task_items[task + 1];
  for (int64_t t = item_begin / groups; t * groups < item_end; ++t) {
    const int32_t g_begin = static_cast<int32_t>(t * groups < item_begin ? item_begin - t * groups : 0);
    const int32_t g_end = static_cast<int32_t>(imin64(groups, item_end - t * groups));
    if (g_begin >= g_end) continue;
    const int32_t n = static_cast<int32_t>(t / c.tiles_per_image);
    const bool last = t % c.tiles_per_image == c.tiles_per_image - 1;
    const int32_t p0 = static_cast<int32_t>(t % c.tiles_per_image) * T;
    // An image's last tile holds the rest: at most T pixels, or T + merged_tail
    // when the variant merges short tails into it (see gsparse_run).
    const int32_t np = last ? out_pixels - p0 : T;
    // Pixels [0, np_main) run the R x NV microkernel; [np_main, np) the lanes
    // kernel (G == W only): a whole tile of <= W pixels, or a tail merged into
    // the last tile so that it reuses each group's weights while they are in
    // L1 instead of streaming all weights again for a few pixels.
    using LV = typename LanesVec<V, G>::type;
    constexpr bool kLanes = LanesTail<LV>::value && G == LV::W;
    int32_t np_main = np;
    LanesFn tail_fn = nullptr;
    if constexpr (kLanes) {
      static_assert(std::is_same<E, float>::value, "the lanes tail kernel is float code");
      np_main = np <= LV::W ? 0 : imin32(np, T);
      if (np > np_main) {
        // T == NVMAX * W for every variant: the lanes kernel divides by a constant.
        tail_fn = pick_lanes<LV, LV::W, NVMAX * V::W>(np - np_main);
        // LV's own unpack: the compact rows are np - np_main pixels apart, narrower
        // than V's block transposes write.
        pack_tile<LV>(c, n, p0 + np_main, np - np_main, xs, offs, np - np_main);
      }
    }
    if (np_main > 0) pack_tile<V>(c, n, p0, np_main, tile, offs, T);
    const GspmmFnT<E> fn = pick_nv<V, (R < G ? R : G), NVMAX>((np_main + V::W - 1) / V::W);
    // Row chunks that are one output channel block (R == P) or part of one go
    // straight from the accumulators into NC{P}HW{P}: whole groups (AVX-512,
    // G = R = 8), each R-row chunk of a larger group (WASM, G = 8/16 in chunks
    // of 4) or each half block (AVX2 and NEON fp16 G = 4: 4 rows of an 8-lane block).
    constexpr int kChunk = R < G ? R : G;
    constexpr int kP = BlockP<V>::value;
    constexpr bool kCanDirect = DirectRows<V, kChunk>::value && kP != 0 && kP % kChunk == 0 &&
                                G % kChunk == 0;
    const bool direct = kCanDirect && c.out_pack == kP;
    E* out_image = static_cast<E*>(c.out) + n * c.out_batch_stride + static_cast<int64_t>(p0) * c.out_pack;
    for (int32_t g = g_begin; g < g_end; ++g) {
      const int32_t e0 = w->group_begin[g], ne = w->group_begin[g + 1] - e0;
      const int32_t rows = imin32(G, w->out_channels - g * G);
      const E* values = values_all + static_cast<ptrdiff_t>(e0) * G;
      // Straight into the output when every part of the tile can go there.
      const bool whole_block = rows == G && c.out_pack == G;
      const bool to_out = rows == G && (np_main == 0 || direct) && (tail_fn == nullptr || whole_block);
      if (np_main > 0) {
        if (to_out) {
          for (int32_t r0 = 0; r0 < G; r0 += kChunk) {
            const int32_t c0 = g * G + r0;
            fn(tile, w->row_offset + e0, values + r0, ne, G, bias + c0, w->output_min, w->output_max, nullptr,
               T, out_image + c0 / kP * c.out_block_stride + c0 % kP, np_main);
          }
        } else {
          for (int32_t r0 = 0; r0 < rows; r0 += R)
            fn(tile, w->row_offset + e0, values + r0, ne, G, bias + g * G + r0, w->output_min, w->output_max,
               obuf + r0 * OT, OT, nullptr, np_main);
        }
      }
      if constexpr (kLanes) {
        if (tail_fn != nullptr)
          tail_fn(xs, w->row_offset + e0, values, ne, G, bias + g * G, w->output_min, w->output_max,
                  obuf + np_main, OT,
                  to_out ? out_image + g * c.out_block_stride + static_cast<int64_t>(np_main) * G : nullptr);
      }
      if (!to_out) store_group<V>(c, n, g, p0, np, obuf);
    }
  }
}

}  // namespace
}  // namespace sbnn
