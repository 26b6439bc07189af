// gsparse_tester: every compiled-in kernel variant over a set of conv shapes and
// layouts, checked against a naive C++ convolution written here from the
// definition (zero padding, stride, dilation, bias, clamp). Built with
// SBNN_BUILD_TESTERS=ON; scripts/sanitize.sh runs it under ASan+UBSan, so an
// out-of-bounds read/write or UB in any microkernel fails the run.
// Exit status 0 when every case matches, 1 otherwise.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sparsebytenn/dconv.h"
#include "sparsebytenn/dwconv.h"
#include "sparsebytenn/gsparse.h"

namespace {

struct Shape {
  int n, c, o, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  float sparsity;
};

// Small but covering: 1x1 and kxk, O not a multiple of G, odd spatial sizes that
// leave partial pixel tiles, asymmetric padding, stride 2, dilation 2, batch 2.
const Shape kShapes[] = {
    {1, 3, 5, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0.5f},
    {1, 16, 32, 15, 15, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0.7f},
    {2, 8, 20, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.5f},
    {1, 12, 17, 10, 9, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 0.6f},
    {1, 6, 9, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0.4f},
    {1, 5, 33, 6, 37, 5, 3, 1, 2, 1, 1, 2, 1, 2, 1, 0.8f},
    {1, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0.0f},
    {1, 7, 3, 4, 5, 2, 2, 1, 1, 1, 1, 0, 1, 1, 0, 1.0f},  // all weights zero
};

int out_size(int in, int k, int s, int d, int pa, int pb) { return (in + pa + pb - d * (k - 1) - 1) / s + 1; }

// y[n][o][oy][ox] from the definition, double accumulation.
std::vector<float> naive_conv(const Shape& s, const std::vector<float>& x, const std::vector<float>& wt,
                              const std::vector<float>& b, float lo, float hi, int oh, int ow) {
  std::vector<float> y(size_t(s.n) * s.o * oh * ow);
  for (int n = 0; n < s.n; ++n)
    for (int o = 0; o < s.o; ++o)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double acc = b[o];
          for (int c = 0; c < s.c; ++c)
            for (int ky = 0; ky < s.kh; ++ky)
              for (int kx = 0; kx < s.kw; ++kx) {
                int iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += double(x[((size_t(n) * s.c + c) * s.h + iy) * s.w + ix]) *
                       wt[((size_t(o) * s.c + c) * s.kh + ky) * s.kw + kx];
              }
          float v = float(acc);
          v = v < lo ? lo : (v > hi ? hi : v);
          y[((size_t(n) * s.o + o) * oh + oy) * ow + ox] = v;
        }
  return y;
}

// NCHW -> MNN's [ceil(C/P)][N][H*W][P], padded lanes filled with `fill` (must be ignored).
std::vector<float> to_packed(const std::vector<float>& x, int n, int c, int hw, int p, float fill) {
  int blocks = (c + p - 1) / p;
  std::vector<float> out(size_t(blocks) * n * hw * p, fill);
  for (int b = 0; b < n; ++b)
    for (int ch = 0; ch < c; ++ch)
      for (int i = 0; i < hw; ++i)
        out[((size_t(ch / p) * n + b) * hw + i) * p + ch % p] = x[(size_t(b) * c + ch) * hw + i];
  return out;
}

void serial_for(void*, int32_t num_tasks, sbnn_task_fn task, void* ctx) {
  for (int32_t i = 0; i < num_tasks; ++i) task(ctx, i);
}

// An executor with real threads, so races and per-task workspace slices are exercised.
void threaded_for(void*, int32_t num_tasks, sbnn_task_fn task, void* ctx) {
  std::vector<std::thread> pool;
  for (int32_t i = 0; i < num_tasks; ++i) pool.emplace_back([=] { task(ctx, i); });
  for (auto& t : pool) t.join();
}

int failures = 0, cases = 0;

void check(bool ok, const std::string& what) {
  ++cases;
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAIL %s\n", what.c_str());
  }
}

void run_case(const sbnn_variant_desc& v, const Shape& s, int layout_p, int threads, bool clamp, bool own_pool,
              std::mt19937& rng) {
  const int G = v.group_size;
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> ud;
  std::vector<float> wt(size_t(s.o) * s.c * s.kh * s.kw), bias(s.o), x(size_t(s.n) * s.c * s.h * s.w);
  for (auto& a : wt) a = nd(rng);
  for (auto& a : bias) a = 0.1f * nd(rng);
  for (auto& a : x) a = nd(rng);
  // zero whole (G output rows x input channel) blocks
  for (int g = 0; g * G < s.o; ++g)
    for (int c = 0; c < s.c; ++c)
      if (ud(rng) < s.sparsity)
        for (int o = g * G; o < std::min(s.o, g * G + G); ++o)
          for (int t = 0; t < s.kh * s.kw; ++t) wt[(size_t(o) * s.c + c) * s.kh * s.kw + t] = 0.f;
  const float lo = clamp ? 0.f : -INFINITY, hi = clamp ? 6.f : INFINITY;

  sbnn_pack_params pp{s.o, s.c, s.kh, s.kw, G, lo, hi, v.isa};
  sbnn_gsparse_weights* packed = nullptr;
  std::string tag = std::string(v.name) + " shape#" + std::to_string(&s - kShapes) + " P=" +
                    std::to_string(layout_p) + " threads=" + std::to_string(threads) + (clamp ? " clamp" : "");
  sbnn_status st = sbnn_gsparse_pack(&pp, wt.data(), bias.data(), &packed);
  check(st == SBNN_OK, tag + ": pack " + sbnn_status_string(st));
  if (st != SBNN_OK) return;
  sbnn_gsparse_info info{};
  sbnn_gsparse_get_info(packed, &info);
  check(std::strcmp(info.variant, v.name) == 0, tag + ": packed with " + info.variant);

  const int oh = out_size(s.h, s.kh, s.sh, s.dh, s.pt, s.pb), ow = out_size(s.w, s.kw, s.sw, s.dw, s.pl, s.pr);
  sbnn_conv_geometry geo{s.n, s.h, s.w, oh, ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb, s.pr};
  std::vector<float> in = layout_p == 1 ? x : to_packed(x, s.n, s.c, s.h * s.w, layout_p, NAN);
  const int oblocks = (s.o + layout_p - 1) / layout_p;
  std::vector<float> out(layout_p == 1 ? size_t(s.n) * s.o * oh * ow : size_t(oblocks) * s.n * oh * ow * layout_p,
                         12345.f);
  sbnn_tensor_layout lay{layout_p, 0, 0};
  sbnn_executor ex{own_pool ? nullptr : (threads > 1 ? threaded_for : serial_for), nullptr, threads};
  // an exactly-sized workspace, so ASan sees any write past it
  std::vector<unsigned char> ws(sbnn_gsparse_workspace_size(packed, &geo, threads));
  st = sbnn_gsparse_run(packed, &geo, in.data(), &lay, out.data(), &lay, &ex, ws.empty() ? nullptr : ws.data(),
                        ws.size());
  check(st == SBNN_OK, tag + ": run " + sbnn_status_string(st));
  if (st == SBNN_OK) {
    std::vector<float> ref = naive_conv(s, x, wt, bias, lo, hi, oh, ow);
    std::vector<float> got = layout_p == 1 ? out : std::vector<float>(ref.size());
    if (layout_p != 1)
      for (int n = 0; n < s.n; ++n)
        for (int o = 0; o < s.o; ++o)
          for (int i = 0; i < oh * ow; ++i)
            got[(size_t(n) * s.o + o) * oh * ow + i] = out[((size_t(o / layout_p) * s.n + n) * oh * ow + i) * layout_p + o % layout_p];
    double worst = 0, scale = 1;
    for (float r : ref) scale = std::max(scale, double(std::fabs(r)));
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
    check(worst <= 1e-4 * scale, tag + ": max error " + std::to_string(worst));
    if (layout_p != 1)  // padded output lanes are written with zeros
      for (int o = s.o; o < oblocks * layout_p; ++o)
        for (int n = 0; n < s.n; ++n)
          for (int i = 0; i < oh * ow; ++i)
            if (out[((size_t(o / layout_p) * s.n + n) * oh * ow + i) * layout_p + o % layout_p] != 0.f) {
              check(false, tag + ": padded output lane not zero");
              o = oblocks * layout_p;
              break;
            }
  }
  sbnn_gsparse_free(packed);
}

// Depthwise shapes (o == c): partial last block / zmm, 3x3 and 5x5 fast paths and
// the kxk path (2x2, dilation, anisotropic stride), pads larger than the image.
const Shape kDwShapes[] = {
    {1, 21, 21, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.f},
    {2, 13, 13, 8, 7, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 0.f},
    {1, 40, 40, 6, 13, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0.f},
    {1, 9, 9, 5, 5, 5, 5, 2, 2, 1, 1, 1, 2, 2, 1, 0.f},
    {1, 16, 16, 7, 6, 3, 3, 1, 2, 2, 1, 2, 1, 2, 0, 0.f},
    {1, 3, 3, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.f},
    {1, 24, 24, 2, 3, 2, 2, 1, 1, 1, 1, 3, 0, 2, 1, 0.f},
};

// out (channels C in layout P) against ref (NCHW): within 1e-4 of the largest value,
// the padded lanes of the last block written with 0.
void check_output(const std::vector<float>& out, const std::vector<float>& ref, int N, int C, int hw, int layout_p,
                  const std::string& tag) {
  const int blocks = (C + layout_p - 1) / layout_p;
  double worst = 0, scale = 1;
  for (float r : ref) scale = std::max(scale, double(std::fabs(r)));
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < blocks * layout_p; ++c)
      for (int i = 0; i < hw; ++i) {
        const float got = layout_p == 1 ? out[(size_t(n) * C + c) * hw + i]
                                        : out[((size_t(c / layout_p) * N + n) * hw + i) * layout_p + c % layout_p];
        if (c >= C) {
          if (layout_p != 1 && got != 0.f) worst = INFINITY;  // padded lanes are written with 0
          continue;
        }
        worst = std::max(worst, double(std::fabs(got - ref[(size_t(n) * C + c) * hw + i])));
      }
  check(worst <= 1e-4 * scale, tag + ": max error " + std::to_string(worst));
}

void run_dw_case(const sbnn_dwconv_variant_desc& v, const Shape& s, int layout_p, int threads, bool clamp,
                 std::mt19937& rng) {
  std::normal_distribution<float> nd;
  const int taps = s.kh * s.kw;
  std::vector<float> wdw(size_t(s.c) * taps), wfull(size_t(s.c) * s.c * taps, 0.f), bias(s.c),
      x(size_t(s.n) * s.c * s.h * s.w);
  for (auto& a : wdw) a = nd(rng);
  for (auto& a : bias) a = nd(rng);
  for (auto& a : x) a = nd(rng);
  for (int c = 0; c < s.c; ++c)
    for (int t = 0; t < taps; ++t) wfull[(size_t(c) * s.c + c) * taps + t] = wdw[size_t(c) * taps + t];
  const float lo = clamp ? 0.f : -INFINITY, hi = clamp ? 6.f : INFINITY;
  const std::string tag = std::string(v.name) + " dw shape#" + std::to_string(&s - kDwShapes) + " P=" +
                          std::to_string(layout_p) + " threads=" + std::to_string(threads);
  sbnn_dwconv_params pp{s.c, s.kh, s.kw, lo, hi, v.isa};
  sbnn_dwconv_weights* packed = nullptr;
  sbnn_status st = sbnn_dwconv_pack(&pp, wdw.data(), bias.data(), &packed);
  check(st == SBNN_OK, tag + ": pack " + sbnn_status_string(st));
  if (st != SBNN_OK) return;
  const int oh = out_size(s.h, s.kh, s.sh, s.dh, s.pt, s.pb), ow = out_size(s.w, s.kw, s.sw, s.dw, s.pl, s.pr);
  sbnn_conv_geometry geo{s.n, s.h, s.w, oh, ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb, s.pr};
  std::vector<float> in = layout_p == 1 ? x : to_packed(x, s.n, s.c, s.h * s.w, layout_p, NAN);
  const int blocks = (s.c + layout_p - 1) / layout_p;
  std::vector<float> out(size_t(blocks) * layout_p * s.n * oh * ow, 12345.f);
  sbnn_tensor_layout lay{layout_p, 0, 0};
  sbnn_executor ex{threads > 1 ? threaded_for : serial_for, nullptr, threads};
  std::vector<unsigned char> ws(sbnn_dwconv_workspace_size(packed, &geo, layout_p, threads));
  st = sbnn_dwconv_run(packed, &geo, in.data(), &lay, out.data(), &lay, &ex, ws.empty() ? nullptr : ws.data(),
                       ws.size());
  check(st == SBNN_OK, tag + ": run " + sbnn_status_string(st));
  if (st == SBNN_OK) check_output(out, naive_conv(s, x, wfull, bias, lo, hi, oh, ow), s.n, s.c, oh * ow, layout_p, tag);
  sbnn_dwconv_free(packed);
}

// Direct convs (few input channels): O x I weights, I <= 16; the same reference.
const Shape kDirectShapes[] = {
    {1, 3, 32, 23, 21, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 0.f},   // a MobileNet stem (TF pads)
    {2, 3, 13, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.f},    // O not a multiple of 8, batch 2
    {1, 16, 40, 8, 7, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0.f},    // two input blocks, a half tile of units
    {1, 5, 24, 6, 30, 3, 3, 1, 2, 2, 1, 2, 1, 2, 0, 0.f},    // dilation, anisotropic stride, asymmetric pads
    {1, 1, 8, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.f},      // one pixel, all-pad taps
    {1, 3, 17, 3, 3, 4, 4, 1, 1, 1, 1, 2, 2, 1, 1, 0.f},     // kernel larger than the image
};

void run_direct_case(const sbnn_dconv_variant_desc& v, const Shape& s, int layout_p, int threads, bool clamp,
                     std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> w(size_t(s.o) * s.c * s.kh * s.kw), bias(s.o), x(size_t(s.n) * s.c * s.h * s.w);
  for (auto& a : w) a = nd(rng);
  for (auto& a : bias) a = nd(rng);
  for (auto& a : x) a = nd(rng);
  const float lo = clamp ? 0.f : -INFINITY, hi = clamp ? 6.f : INFINITY;
  const std::string tag = std::string(v.name) + " direct shape#" + std::to_string(&s - kDirectShapes) + " P=" +
                          std::to_string(layout_p) + " threads=" + std::to_string(threads);
  sbnn_dconv_params pp{s.o, s.c, s.kh, s.kw, lo, hi, v.isa};
  sbnn_dconv_weights* packed = nullptr;
  sbnn_status st = sbnn_dconv_pack(&pp, w.data(), bias.data(), &packed);
  check(st == SBNN_OK, tag + ": pack " + sbnn_status_string(st));
  if (st != SBNN_OK) return;
  const int oh = out_size(s.h, s.kh, s.sh, s.dh, s.pt, s.pb), ow = out_size(s.w, s.kw, s.sw, s.dw, s.pl, s.pr);
  sbnn_conv_geometry geo{s.n, s.h, s.w, oh, ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb, s.pr};
  std::vector<float> in = layout_p == 1 ? x : to_packed(x, s.n, s.c, s.h * s.w, layout_p, NAN);
  const int blocks = (s.o + layout_p - 1) / layout_p;
  std::vector<float> out(size_t(blocks) * layout_p * s.n * oh * ow, 12345.f);  // exactly the output: ASan sees overruns
  sbnn_tensor_layout lay{layout_p, 0, 0};
  sbnn_executor ex{threads > 1 ? threaded_for : serial_for, nullptr, threads};
  st = sbnn_dconv_run(packed, &geo, in.data(), &lay, out.data(), &lay, &ex);
  check(st == SBNN_OK, tag + ": run " + sbnn_status_string(st));
  if (st == SBNN_OK) check_output(out, naive_conv(s, x, w, bias, lo, hi, oh, ow), s.n, s.o, oh * ow, layout_p, tag);
  sbnn_dconv_free(packed);
}

// Bad arguments return an error and touch nothing (ASan would see a stray access).
void run_errors() {
  float w[16] = {1}, b[4] = {0}, x[64] = {0}, y[64] = {0};
  sbnn_gsparse_weights* packed = nullptr;
  sbnn_pack_params bad_g{4, 1, 2, 2, 3, -INFINITY, INFINITY, nullptr};
  check(sbnn_gsparse_pack(&bad_g, w, b, &packed) == SBNN_ERR_BAD_GROUP && !packed, "pack G=3 rejected");
  sbnn_pack_params bad_shape{0, 1, 2, 2, 4, -INFINITY, INFINITY, nullptr};
  check(sbnn_gsparse_pack(&bad_shape, w, b, &packed) == SBNN_ERR_BAD_SHAPE, "pack O=0 rejected");
  sbnn_pack_params huge{1 << 30, 1 << 30, 1 << 15, 1 << 15, 4, -INFINITY, INFINITY, nullptr};
  sbnn_status st = sbnn_gsparse_pack(&huge, w, b, &packed);
  check(st != SBNN_OK, "pack with overflowing sizes rejected");
  check(sbnn_gsparse_pack(&bad_g, nullptr, b, &packed) != SBNN_OK, "pack NULL weights rejected");
  sbnn_pack_params ok{4, 1, 2, 2, 4, -INFINITY, INFINITY, nullptr};
  check(sbnn_gsparse_pack(&ok, w, b, &packed) == SBNN_OK, "small pack");
  sbnn_conv_geometry wrong_out{1, 4, 4, 9, 9, 1, 1, 1, 1, 0, 0, 0, 0};
  sbnn_tensor_layout nchw{1, 0, 0};
  check(sbnn_gsparse_run(packed, &wrong_out, x, &nchw, y, &nchw, nullptr, nullptr, 0) == SBNN_ERR_BAD_SHAPE,
        "run with an inconsistent output size rejected");
  sbnn_conv_geometry neg_pad{1, 4, 4, 3, 3, 1, 1, 1, 1, -1, 0, 0, 0};
  check(sbnn_gsparse_run(packed, &neg_pad, x, &nchw, y, &nchw, nullptr, nullptr, 0) != SBNN_OK,
        "run with negative padding rejected");
  sbnn_conv_geometry good{1, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
  sbnn_tensor_layout bad_pack{3, 0, 0};
  check(sbnn_gsparse_run(packed, &good, x, &bad_pack, y, &nchw, nullptr, nullptr, 0) == SBNN_ERR_BAD_LAYOUT,
        "run with pack 3 rejected");
  unsigned char small_ws[4];
  check(sbnn_gsparse_run(packed, &good, x, &nchw, y, &nchw, nullptr, small_ws, sizeof small_ws) ==
            SBNN_ERR_WORKSPACE_TOO_SMALL, "run with a too-small workspace rejected");
  sbnn_gsparse_free(packed);
}

}  // namespace

int main() {
  std::mt19937 rng(1234);
  int tested = 0;
  for (int32_t i = 0; i < sbnn_variant_count(); ++i) {
    sbnn_variant_desc v{};
    sbnn_variant_get(i, &v);
    if (!v.available) {
      std::printf("skip %s (not runnable on this CPU)\n", v.name);
      continue;
    }
    ++tested;
    for (const Shape& s : kShapes)
      for (int p : {1, 4, 8, 16})
        for (int threads : {1, 3}) run_case(v, s, p, threads, (s.c + p + threads) % 2 == 0, false, rng);
    run_case(v, kShapes[2], 8, 2, true, true, rng);  // the built-in thread pool
  }
  // Depthwise: each ISA once (its run picks the specialised or kxk entry per shape).
  for (int32_t i = 0; i < sbnn_dwconv_variant_count(); ++i) {
    sbnn_dwconv_variant_desc v{};
    sbnn_dwconv_variant_get(i, &v);
    if (v.kernel_h != 0) continue;  // the ISA's last (kxk) entry stands for it
    if (!v.available) {
      std::printf("skip %s (not runnable on this CPU)\n", v.name);
      continue;
    }
    ++tested;
    const bool simd = std::strcmp(v.isa, "ref") != 0;
    for (const Shape& s : kDwShapes)
      for (int p : {1, 4, 8, 16})
        for (int threads : {1, 3})
          if (!simd || p == 8) run_dw_case(v, s, p, threads, (s.c + threads) % 2 == 0, rng);
  }
  // Direct convs: each ISA once, like the depthwise ones.
  for (int32_t i = 0; i < sbnn_dconv_variant_count(); ++i) {
    sbnn_dconv_variant_desc v{};
    sbnn_dconv_variant_get(i, &v);
    if (v.kernel_h != 0) continue;
    if (!v.available) {
      std::printf("skip %s (not runnable on this CPU)\n", v.name);
      continue;
    }
    ++tested;
    const bool simd = std::strcmp(v.isa, "ref") != 0;
    for (const Shape& s : kDirectShapes)
      for (int p : {1, 4, 8, 16})
        for (int threads : {1, 3})
          if (!simd || p == 8) run_direct_case(v, s, p, threads, (s.o + threads) % 2 == 0, rng);
  }
  run_errors();
  std::printf("gsparse_tester: %d variants, %d checks, %d failures\n", tested, cases, failures);
  return failures || tested == 0 ? 1 : 0;
}
