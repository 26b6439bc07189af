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
// NC{R}HW{R} at nc_out (np valid pixels) instead of obuf; only microkernels
// with R == DirectRows<V> get it (the caller checks).
template <class E>
using GspmmFnT = void (*)(const E* tile, const int32_t* row_offset, const E* values, int32_t entries,
                          int32_t value_stride, const E* bias, float lo, float hi, E* obuf, int32_t obuf_stride,
                          E* nc_out, int32_t np);

// ISAs that can transpose R accumulator rows x one vector of pixels in
// registers set Vec::kDirectRows = R (== kBlockP) and provide
//   store_nc(reg (&col)[R], dst, np): -> np (<= W) pixels x R channels at dst.
// The [G][T] output block round trip through memory disappears.
template <class V, class = void>
struct DirectRows { static constexpr int value = 0; };
template <class V>
struct DirectRows<V, decltype(void(V::kDirectRows))> { static constexpr int value = V::kDirectRows; };

// ISAs with an FMA by vector lane set Vec::kLaneFma and provide
// fma_lane<l>(acc, x, wv) = acc + x * wv[l], for l < Vec::W (weights per register).
template <class V, class = void>
struct HasLaneFma { static constexpr bool value = false; };
template <class V>
struct HasLaneFma<V, decltype(void(V::kLaneFma))> { static constexpr bool value = V::kLaneFma; };

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
    if constexpr (HasLaneFma<V>::value && R % W == 0) {
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
  if (lo != -__builtin_inff() || hi != __builtin_inff()) {  // fused ReLU / ReLU6 / clamp
    const reg vlo = V::set1(lo), vhi = V::set1(hi);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = V::max(V::min(acc[r][v], vhi), vlo);
  }
  if constexpr (DirectRows<V>::value == R) {
    if (nc_out != nullptr) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        reg col[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) col[r] = acc[r][v];
        V::store_nc(col, nc_out + v * W * R, np - v * W);
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
inline void pack_tile(const RunContext& c, int32_t n, int32_t p0, int32_t np, E* tile, int32_t* offs) {
  const sbnn_gsparse_weights* w = c.w;
  const int32_t T = w->tile, I = w->in_channels;
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

// [G][T] block of output group g -> NCHW or NC{P}HW{P}, only rows < O, pixels < np.
template <class V, class E = elem_t<V>>
inline void store_group(const RunContext& c, int32_t n, int32_t g, int32_t p0, int32_t np, const E* obuf) {
  const sbnn_gsparse_weights* w = c.w;
  const int32_t G = w->group_size, T = w->tile;
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
  const E* values = reinterpret_cast<const E*>(w->values);
  const E* bias = reinterpret_cast<const E*>(w->bias);
  unsigned char* ws = c.workspace + c.task_workspace_bytes * static_cast<size_t>(task);
  E* tile = reinterpret_cast<E*>(ws);
  E* obuf = reinterpret_cast<E*>(ws + ((sizeof(float) * K * T + 63) & ~size_t(63)));
  int32_t* offs = reinterpret_cast<int32_t*>(reinterpret_cast<unsigned char*>(obuf) +
                                             ((sizeof(float) * G * T + 63) & ~size_t(63)));
  const int32_t out_pixels = c.out_h * c.out_w;
  const int32_t groups = w->num_groups;
  const int64_t item_begin = c.task_items[task], item_end = c.task_items[task + 1];
  for (int64_t t = item_begin / groups; t * groups < item_end; ++t) {
    const int32_t g_begin = static_cast<int32_t>(t * groups < item_begin ? item_begin - t * groups : 0);
    const int32_t g_end = static_cast<int32_t>(imin64(groups, item_end - t * groups));
    if (g_begin >= g_end) continue;
    const int32_t n = static_cast<int32_t>(t / c.tiles_per_image);
    const int32_t p0 = static_cast<int32_t>(t % c.tiles_per_image) * T;
    const int32_t np = imin32(T, out_pixels - p0);
    pack_tile<V>(c, n, p0, np, tile, offs);
    const GspmmFnT<E> fn = pick_nv<V, (R < G ? R : G), NVMAX>((np + V::W - 1) / V::W);
    // Row chunks that are exactly one output channel block (R == P) go straight
    // from the accumulators into NC{P}HW{P}: whole groups (AVX-512, G = R = 8)
    // or each R-row chunk of a larger group (WASM, G = 8/16 in chunks of 4).
    constexpr int kChunk = R < G ? R : G;
    constexpr bool kCanDirect = DirectRows<V>::value == kChunk && BlockP<V>::value == kChunk && G % kChunk == 0;
    const bool direct = kCanDirect && c.out_pack == kChunk;
    E* out_image = static_cast<E*>(c.out) + n * c.out_batch_stride + static_cast<int64_t>(p0) * c.out_pack;
    for (int32_t g = g_begin; g < g_end; ++g) {
      const int32_t e0 = w->group_begin[g], ne = w->group_begin[g + 1] - e0;
      const int32_t rows = imin32(G, w->out_channels - g * G);
      if (direct && rows == G) {
        for (int32_t r0 = 0; r0 < G; r0 += kChunk)
          fn(tile, w->row_offset + e0, values + static_cast<ptrdiff_t>(e0) * G + r0, ne, G,
             bias + g * G + r0, w->output_min, w->output_max, nullptr, T,
             out_image + (g * G + r0) / kChunk * c.out_block_stride, np);
        continue;
      }
      for (int32_t r0 = 0; r0 < rows; r0 += R)
        fn(tile, w->row_offset + e0, values + static_cast<ptrdiff_t>(e0) * G + r0, ne, G,
           bias + g * G + r0, w->output_min, w->output_max, obuf + r0 * T, T, nullptr, np);
      store_group<V>(c, n, g, p0, np, obuf);
    }
  }
}

}  // namespace
}  // namespace sbnn
