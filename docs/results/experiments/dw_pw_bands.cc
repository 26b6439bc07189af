// Upper-bound probe for a dw+pw fusion: the dw conv's output round trip through memory.
// A: dw over the whole image into D, then the 1x1 conv over D.
// B: per band of R output rows, dw into a small buffer, then the 1x1 conv on that band
//    (the band's dw output is still in L1/L2 when the 1x1 conv packs it): what a fused
//    op would save, minus the per-call overhead of 2 x H/R calls.
#include "sparsebytenn/dwconv.h"
#include "sparsebytenn/gsparse.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#define CK(x) do { sbnn_status s_ = (x); if (s_) { printf("%s -> %s (line %d)\n", #x, sbnn_status_string(s_), __LINE__); exit(1);} } while (0)
int main(int argc, char** argv) {
  int C = atoi(argv[1]), H = atoi(argv[2]), CO = atoi(argv[3]); float sp = atof(argv[4]); int R = atoi(argv[5]);
  const char* isa = argc > 6 ? argv[6] : "avx512";
  int W = H, P = 8, G = 8;
  std::mt19937 rng(1); std::normal_distribution<float> nd(0, 0.1f);
  std::vector<float> dww(C * 9), dwb(C), pw(CO * C), pb(CO);
  for (auto& v : dww) v = nd(rng); for (auto& v : dwb) v = nd(rng); for (auto& v : pw) v = nd(rng); for (auto& v : pb) v = nd(rng);
  std::uniform_real_distribution<float> u(0, 1);
  for (int g = 0; g < CO / G; ++g) for (int i = 0; i < C; ++i) if (u(rng) < sp) for (int r = 0; r < G; ++r) pw[(g * G + r) * C + i] = 0;
  sbnn_dwconv_params dp{C, 3, 3, 0.f, 6.f, isa}; sbnn_dwconv_weights* dk; CK(sbnn_dwconv_pack(&dp, dww.data(), dwb.data(), &dk));
  sbnn_pack_params pp{CO, C, 1, 1, G, 0.f, 6.f, isa}; sbnn_gsparse_weights* pk; CK(sbnn_gsparse_pack(&pp, pw.data(), pb.data(), &pk));
  int cb = (C + 7) / 8, ob = (CO + 7) / 8;
  std::vector<float> in((size_t)cb * H * W * 8), D((size_t)cb * H * W * 8), out((size_t)ob * H * W * 8), out2(out.size()), Db((size_t)cb * R * W * 8);
  for (auto& v : in) v = u(rng);
  sbnn_executor ex{nullptr, nullptr, 1};
  sbnn_conv_geometry gfull{1, H, W, H, W, 1, 1, 1, 1, 1, 1, 1, 1};
  sbnn_conv_geometry g1{1, H, W, H, W, 1, 1, 1, 1, 0, 0, 0, 0};
  sbnn_tensor_layout L8{}; L8.pack = 8;
  std::vector<unsigned char> ws(1 << 24);
  auto runA = [&] {
    CK(sbnn_dwconv_run(dk, &gfull, in.data(), &L8, D.data(), &L8, &ex, ws.data(), ws.size()));
    CK(sbnn_gsparse_run(pk, &g1, D.data(), &L8, out.data(), &L8, &ex, ws.data(), ws.size()));
  };
  auto runB = [&] {
    for (int y0 = 0; y0 < H; y0 += R) {
      int y1 = std::min(H, y0 + R), rows = y1 - y0;
      int iy0 = std::max(0, y0 - 1), iy1 = std::min(H - 1, y1);
      int pt = y0 == 0 ? 1 : 0, pbm = y1 == H ? 1 : 0;
      sbnn_conv_geometry gd{1, iy1 - iy0 + 1, W, rows, W, 1, 1, 1, 1, pt, 1, pbm, 1};
      sbnn_tensor_layout li{8, (int64_t)H * W * 8, (int64_t)H * W * 8};
      sbnn_tensor_layout lb{8, (int64_t)rows * W * 8, (int64_t)rows * W * 8};
      CK(sbnn_dwconv_run(dk, &gd, in.data() + (size_t)iy0 * W * 8, &li, Db.data(), &lb, &ex, ws.data(), ws.size()));
      sbnn_conv_geometry gp{1, rows, W, rows, W, 1, 1, 1, 1, 0, 0, 0, 0};
      sbnn_tensor_layout lo{8, (int64_t)H * W * 8, (int64_t)H * W * 8};
      CK(sbnn_gsparse_run(pk, &gp, Db.data(), &lb, out2.data() + (size_t)y0 * W * 8, &lo, &ex, ws.data(), ws.size()));
    }
  };
  runA(); runB();
  double md = 0; for (size_t i = 0; i < out.size(); ++i) md = std::max(md, (double)std::abs(out[i] - out2[i]));
  int reps = std::max(3, (int)(2e8 / ((double)C * H * W * 9 + (double)CO * C * H * W * (1 - sp))));
  std::vector<double> ta, tb;
  for (int k = 0; k < 21; ++k) {
    for (int m = 0; m < 2; ++m) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) { if (m) runB(); else runA(); }
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps * 1e6;
      (m ? tb : ta).push_back(t);
    }
  }
  std::vector<double> ratio; for (int k = 0; k < 21; ++k) ratio.push_back(ta[k] / tb[k]);
  std::sort(ta.begin(), ta.end()); std::sort(tb.begin(), tb.end()); std::sort(ratio.begin(), ratio.end());
  printf("C%d H%d ->%d sp%.1f R%d %s: A %.1f us  B %.1f us  A/B %.3f  (maxdiff %.2g)\n", C, H, CO, sp, R, isa, ta[10], tb[10], ratio[10], md);
}
