// AArch64 ARMv8.2-A FP16 family (compiled with +fp16): 8 fp16 lanes per q
// register, G = 8 output channels per weight register, FMA by lane
// (fmla v.8h, v.8h, v.h[l]). Activations, weights, bias and accumulators are all
// fp16, as in MNN's own fp16 (Arm82) path; MNN's fp16 layout is NC8HW8. The
// kernel rounds after every FMA, so a sum over K kept entries carries up to
// K + 1 fp16 roundings (docs/PACKED_FORMAT.md, "fp16 variants").
#include <arm_neon.h>

#include "gspmm_task.h"
#include "variants.h"

namespace sbnn {
namespace {
struct VecNeonFp16 {
  using elem = __fp16;
  using reg = float16x8_t;
  static constexpr int W = 8;
  static reg load(const __fp16* p) { return vld1q_f16(p); }
  static reg load_low(const __fp16* p) { return vcombine_f16(vld1_f16(p), vdup_n_f16(0)); }
  static reg set1(float x) { return vdupq_n_f16(static_cast<float16_t>(x)); }
  static reg fma(reg a, reg b, reg c) { return vfmaq_f16(c, a, b); }
  static reg min(reg a, reg b) { return vminq_f16(a, b); }
  static reg max(reg a, reg b) { return vmaxq_f16(a, b); }
  static void store(__fp16* p, reg v) { vst1q_f16(p, v); }
  static constexpr bool kLaneFma = true;
  // fmla v.8h, v.8h, v.h[L] by element. Written as asm because g++ 12 expands
  // vfmaq_laneq_f16 to dup + fmla (8 dups per weight register, then spills); the
  // "x" constraint keeps w8 in v0-v15, the only registers the fp16 form indexes.
  template <int L>
  static reg fma_lane(reg acc, reg x, reg w8) {
    __asm__("fmla %0.8h, %1.8h, %2.h[%3]" : "+w"(acc) : "w"(x), "x"(w8), "i"(L));
    return acc;
  }
  // 8 accumulator rows x 8 pixels go straight into one NC8HW8 block (np <= 8
  // pixels): one transpose in registers instead of the output block's round trip.
  static void store_nc(reg (&col)[8], __fp16* dst, int32_t np) {
    uint16x8_t v[8];
    for (int r = 0; r < 8; ++r) v[r] = vreinterpretq_u16_f16(col[r]);
    transpose8x8(v);
    if (np >= 8) {
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) vst1q_u16(reinterpret_cast<uint16_t*>(dst + i * 8), v[i]);
    } else {  // the image's last pixels (a switch: g++ turns a loop into a memcpy call)
      uint16_t* d = reinterpret_cast<uint16_t*>(dst);
      switch (np) {
        case 7: vst1q_u16(d + 48, v[6]); [[fallthrough]];
        case 6: vst1q_u16(d + 40, v[5]); [[fallthrough]];
        case 5: vst1q_u16(d + 32, v[4]); [[fallthrough]];
        case 4: vst1q_u16(d + 24, v[3]); [[fallthrough]];
        case 3: vst1q_u16(d + 16, v[2]); [[fallthrough]];
        case 2: vst1q_u16(d + 8, v[1]); [[fallthrough]];
        default: vst1q_u16(d, v[0]);
      }
    }
  }
  // 4 accumulator rows x 8 pixels -> 4 lanes (one 64-bit half) of np pixels of
  // an NC8HW8 block: G = 4 groups fill half blocks, and without this their output
  // went through the [G][T] block and a strided copy of 2-byte values.
  static void store_nc(reg (&col)[4], __fp16* dst, int32_t np) {
    const uint16x8_t a0 = vtrn1q_u16(vreinterpretq_u16_f16(col[0]), vreinterpretq_u16_f16(col[1]));
    const uint16x8_t a1 = vtrn2q_u16(vreinterpretq_u16_f16(col[0]), vreinterpretq_u16_f16(col[1]));
    const uint16x8_t a2 = vtrn1q_u16(vreinterpretq_u16_f16(col[2]), vreinterpretq_u16_f16(col[3]));
    const uint16x8_t a3 = vtrn2q_u16(vreinterpretq_u16_f16(col[2]), vreinterpretq_u16_f16(col[3]));
    // px[j]: pixel j (low 64 bits) and pixel j + 4 (high 64 bits), 4 channels each.
    const uint64x2_t px[4] = {
        vreinterpretq_u64_u32(vtrn1q_u32(vreinterpretq_u32_u16(a0), vreinterpretq_u32_u16(a2))),
        vreinterpretq_u64_u32(vtrn1q_u32(vreinterpretq_u32_u16(a1), vreinterpretq_u32_u16(a3))),
        vreinterpretq_u64_u32(vtrn2q_u32(vreinterpretq_u32_u16(a0), vreinterpretq_u32_u16(a2))),
        vreinterpretq_u64_u32(vtrn2q_u32(vreinterpretq_u32_u16(a1), vreinterpretq_u32_u16(a3)))};
    uint64_t* d = reinterpret_cast<uint64_t*>(dst);  // one NC8HW8 pixel = 2 x 64 bits
    if (np >= 8) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        vst1q_lane_u64(d + j * 2, px[j], 0);
        vst1q_lane_u64(d + (j + 4) * 2, px[j], 1);
      }
      return;
    }
    for (int32_t p = 0; p < np; ++p) {
      if (p < 4)
        vst1q_lane_u64(d + p * 2, px[p], 0);
      else
        vst1q_lane_u64(d + p * 2, px[p - 4], 1);
    }
  }
  // MNN's fp16 layout NC8HW8 <-> tile rows: 8 pixels x 8 channels per 8x8 transpose.
  static constexpr int kBlockP = 8;
  static int32_t unpack_block(const __fp16* src, int32_t np, __fp16* rows, int32_t T) {
    int32_t p = 0;
    for (; p + 8 <= np; p += 8) {
      uint16x8_t v[8];
      for (int i = 0; i < 8; ++i) v[i] = vld1q_u16(reinterpret_cast<const uint16_t*>(src + (p + i) * 8));
      transpose8x8(v);
      for (int l = 0; l < 8; ++l) vst1q_u16(reinterpret_cast<uint16_t*>(rows + l * T + p), v[l]);
    }
    unpack_pixels<8>(src, p, np, rows, T);
    return np;
  }
  static void pack_block(const __fp16* rows, int32_t T, __fp16* dst, int32_t np) {
    int32_t p = 0;
    for (; p + 8 <= np; p += 8) {
      uint16x8_t v[8];
      for (int l = 0; l < 8; ++l) v[l] = vld1q_u16(reinterpret_cast<const uint16_t*>(rows + l * T + p));
      transpose8x8(v);
      for (int i = 0; i < 8; ++i) vst1q_u16(reinterpret_cast<uint16_t*>(dst + (p + i) * 8), v[i]);
    }
    pack_pixels<8>(rows, T, dst, p, np);
  }

 private:
  // 16-bit 8x8 transpose in three trn1/trn2 rounds (16-, 32-, 64-bit pairs).
  static void transpose8x8(uint16x8_t (&v)[8]) {
    uint16x8_t a[8];
    for (int i = 0; i < 8; i += 2) {
      a[i] = vtrn1q_u16(v[i], v[i + 1]);
      a[i + 1] = vtrn2q_u16(v[i], v[i + 1]);
    }
    uint32x4_t b[8];
    for (int i = 0; i < 8; i += 4)
      for (int j = 0; j < 2; ++j) {
        b[i + j] = vtrn1q_u32(vreinterpretq_u32_u16(a[i + j]), vreinterpretq_u32_u16(a[i + j + 2]));
        b[i + j + 2] = vtrn2q_u32(vreinterpretq_u32_u16(a[i + j]), vreinterpretq_u32_u16(a[i + j + 2]));
      }
    for (int j = 0; j < 4; ++j) {
      v[j] = vreinterpretq_u16_u64(vtrn1q_u64(vreinterpretq_u64_u32(b[j]), vreinterpretq_u64_u32(b[j + 4])));
      v[j + 4] = vreinterpretq_u16_u64(vtrn2q_u64(vreinterpretq_u64_u32(b[j]), vreinterpretq_u64_u32(b[j + 4])));
    }
  }
};
// The direct stores and lane FMAs run_task relies on for speed (a lost overload
// would only slow it down).
static_assert(DirectRows<VecNeonFp16, 8>::value && DirectRows<VecNeonFp16, 4>::value &&
                  HasLoadLow<VecNeonFp16>::value,
              "fp16 writes 8- and 4-row groups straight into NC8HW8, G=4 weights by lane");

// pack's float values and bias -> fp16 in place (round to nearest even), front
// to back: element i's 2 bytes never overwrite a float not yet read.
void narrow_f16(float* data, int64_t count) {
  __fp16* out = reinterpret_cast<__fp16*>(data);
  for (int64_t i = 0; i < count; ++i) {
    const float v = data[i];
    out[i] = static_cast<__fp16>(v);
  }
}
}  // namespace

const Variant kNeonFp16Variants[5] = {
    {"f16_gspmm_1x32__neonfp16", "neonfp16", 1, 32, 8, &run_task<VecNeonFp16, 1, 1, 4>, 0, 2, &narrow_f16},
    {"f16_gspmm_2x32__neonfp16", "neonfp16", 2, 32, 8, &run_task<VecNeonFp16, 2, 2, 4>, 0, 2, &narrow_f16},
    {"f16_gspmm_4x40__neonfp16", "neonfp16", 4, 40, 8, &run_task<VecNeonFp16, 4, 4, 5>, 0, 2, &narrow_f16},
    {"f16_gspmm_8x24__neonfp16", "neonfp16", 8, 24, 8, &run_task<VecNeonFp16, 8, 8, 3>, 0, 2, &narrow_f16},
    {"f16_gspmm_16x24__neonfp16", "neonfp16", 16, 24, 8, &run_task<VecNeonFp16, 16, 8, 3>, 0, 2, &narrow_f16},
};
}  // namespace sbnn
