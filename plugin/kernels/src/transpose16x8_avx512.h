// 16 pixels x 8 channels <-> 8 channels x 16 pixels with AVX-512 two-source
// permutes (3 stages x 8 vpermt2ps), for MNN's NC8HW8 layout: half the shuffle
// work of two 8x8 AVX transposes, and masked loads/stores make pixel tails
// vector code too. Only included by the -mavx512f translation unit.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace sbnn {
namespace {

// The 128 floats live in 8 zmm registers: register bits x lane bits. Pixel-major
// (NC8HW8): reg k, lane l holds pixel 2k + (l>>3), channel l&7. Channel-major:
// reg c, lane p holds channel c, pixel p. Each stage s swaps register bit s with
// lane bit s; a lane rotation (pixel bit 0 <-> lane bit 3) is folded into the
// index of the last (pixel->channel) or first (channel->pixel) stage.
struct Permute16x8 {
  alignas(64) int32_t lo[3][16], hi[3][16];       // pixel-major -> channel-major
  alignas(64) int32_t lo_r[3][16], hi_r[3][16];   // channel-major -> pixel-major
  Permute16x8() {
    int32_t tmp_lo[16], tmp_hi[16];
    for (int s = 0; s < 3; ++s) {
      const int bit = 1 << s;
      for (int l = 0; l < 16; ++l) {
        // Output reg with bit s = 0 / 1; lanes taken from A (reg bit 0) or B (+16).
        lo[s][l] = (l & bit) ? 16 + (l & ~bit) : l;
        hi[s][l] = (l & bit) ? 16 + l : (l | bit);
      }
    }
    // Channel-major lane order p = l; after the three swaps lane bits are
    // (p1, p2, p3, p0): select from the rotated lane in the last stage.
    for (int l = 0; l < 16; ++l) {
      const int src = ((l >> 1) & 7) | ((l & 1) << 3);
      lo_r[0][l] = lo[0][l]; hi_r[0][l] = hi[0][l];
      lo_r[1][l] = lo[1][l]; hi_r[1][l] = hi[1][l];
      lo_r[2][l] = lo[2][l]; hi_r[2][l] = hi[2][l];
      tmp_lo[l] = lo[2][src];
      tmp_hi[l] = hi[2][src];
    }
    for (int l = 0; l < 16; ++l) { lo[2][l] = tmp_lo[l]; hi[2][l] = tmp_hi[l]; }
    // Reverse direction: un-rotate first (lane m takes pixel unrot(m)), folded
    // into stage 0's source lane.
    for (int l = 0; l < 16; ++l) {
      const auto unrot = [](int m) { return ((m & 7) << 1) | ((m >> 3) & 1); };
      const int a = lo_r[0][l], b = hi_r[0][l];
      tmp_lo[l] = (a & 16) | unrot(a & 15);
      tmp_hi[l] = (b & 16) | unrot(b & 15);
    }
    for (int l = 0; l < 16; ++l) { lo_r[0][l] = tmp_lo[l]; hi_r[0][l] = tmp_hi[l]; }
  }
};

inline const Permute16x8& permute16x8() {
  static const Permute16x8 table;
  return table;
}

template <bool kReverse>
inline void transpose_stages(__m512 (&r)[8]) {
  const Permute16x8& t = permute16x8();
  const int32_t(*lo)[16] = kReverse ? t.lo_r : t.lo;
  const int32_t(*hi)[16] = kReverse ? t.hi_r : t.hi;
#pragma GCC unroll 3
  for (int s = 0; s < 3; ++s) {
    const __m512i ilo = _mm512_load_si512(lo[s]), ihi = _mm512_load_si512(hi[s]);
    const int bit = 1 << s;
    __m512 n[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      if (k & bit) continue;
      n[k] = _mm512_permutex2var_ps(r[k], ilo, r[k | bit]);
      n[k | bit] = _mm512_permutex2var_ps(r[k], ihi, r[k | bit]);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) r[k] = n[k];
  }
}

inline __mmask16 lane_mask(int32_t valid) {
  return valid >= 16 ? __mmask16(0xFFFF) : valid <= 0 ? __mmask16(0) : __mmask16((1u << valid) - 1);
}

// src: np (<= 16) pixels x 8 channels, contiguous. rows[c*T + p] for p < 16;
// pixels >= np become 0.
inline void nc8_to_rows16(const float* src, int32_t np, float* rows, int32_t T) {
  __m512 r[8];
  if (np >= 16) {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_ps(src + 16 * k);
  } else {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) r[k] = _mm512_maskz_loadu_ps(lane_mask(np * 8 - 16 * k), src + 16 * k);
  }
  transpose_stages<false>(r);
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) _mm512_storeu_ps(rows + c * T, r[c]);
}

// r[c] = channel c of 16 pixels (overwritten) -> dst: np (<= 16) pixels x 8 channels.
inline void regs16x8_to_nc8(__m512 (&r)[8], float* dst, int32_t np) {
  transpose_stages<true>(r);
  if (np >= 16) {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) _mm512_storeu_ps(dst + 16 * k, r[k]);
  } else {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) _mm512_mask_storeu_ps(dst + 16 * k, lane_mask(np * 8 - 16 * k), r[k]);
  }
}

// rows[c*T + p] (16 pixels readable) -> dst: np (<= 16) pixels x 8 channels.
inline void rows16_to_nc8(const float* rows, int32_t T, float* dst, int32_t np) {
  __m512 r[8];
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) r[c] = _mm512_loadu_ps(rows + c * T);
  regs16x8_to_nc8(r, dst, np);
}

}  // namespace
}  // namespace sbnn
