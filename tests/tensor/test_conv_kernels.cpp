// Our own CPU conv kernels against the f32 reference on the same data: Winograd F(4x4, 3x3)
// (tensor/cpu/winograd_conv.cpp), the small-channel weight gradient (small_conv.cpp) and the blocked
// 1x1 weight gradient (pointwise_conv.cpp). Tolerances as in test_dense_kernels.cpp, relative to
// the reference's magnitude: err = max|a - ref| / max(1, max|ref|).
#include "dense_test_support.h"
#include "tensor/cpu/simd_gemm.h"  // FG_SIMD_GEMM: whether this build has our kernels
#include "tensor/ops_internal.h"

// ---- our Winograd F(4x4, 3x3) on nChw8c / nChw16c (tensor/cpu/winograd_conv.cpp) ----
// Its transforms add rounding of their own (the 6x6 input transform scales by up to 5x5, the
// output one by up to 8x8); measured errors against the reference are below 1e-5 at these shapes,
// so the oneDNN tolerance (1e-4) holds; a wrong tap, transform entry or tile edge gives order 1.

// What a kernel run without the bias should give, and relu of what it gives with it, from the
// reference's y (which has the bias).
static std::pair<std::vector<float>, std::vector<float>> without_bias_and_relu(const std::vector<float>& y,
                                                                               const std::vector<float>& bias,
                                                                               const Conv2dParams& p) {
  std::vector<float> y_nb = y, y_r = y;
  for (size_t i = 0; i < y.size(); ++i) {
    y_nb[i] -= bias[(i / (p.OH * p.OW)) % p.O];
    y_r[i] = std::max(y_r[i], 0.0f);
  }
  return {y_nb, y_r};
}

TEST_CASE("winograd conv (nChw8c, nChw16c) matches the f32 reference: forward (+ bias, ReLU), both backwards") {
  namespace wino = fg::cpu::winograd;
#ifndef FG_SIMD_GEMM
  MESSAGE("no AVX2 and FMA in this build: no Winograd of ours");
  return;
#endif
  std::mt19937 g(77);
  const std::vector<Conv2dParams> cases = {
      conv(2, 64, 28, 28, 32, 3, 3, 1, 1, 1, 1),   // simple's GatedConv (98 tiles: a partial last block)
      conv(2, 96, 14, 14, 48, 3, 3, 1, 1, 1, 1),   // multiscale's 14x14 (tiles overhang the edge)
      conv(3, 128, 7, 7, 64, 3, 3, 1, 1, 1, 1),    // multiscale's 7x7
      conv(1, 32, 9, 11, 40, 3, 3, 1, 1, 1, 1),    // K not a multiple of 16, H != W
      conv(2, 40, 5, 6, 32, 3, 3, 1, 0, 1, 1),     // no padding
      conv(2, 32, 28, 28, 16, 3, 3, 1, 1, 1, 1),   // the dequantization net's 16 outputs
      conv(1, 32, 6, 6, 32, 3, 3, 1, 2, 1, 1),     // padding 2
  };
  for (const int64_t b : our_blocks()) {
    for (Conv2dParams p : cases) {
      CAPTURE(b); CAPTURE(p.C); CAPTURE(p.O); CAPTURE(p.H); CAPTURE(p.W); CAPTURE(p.pad_h);
      if (p.C % b || p.O % b) continue;
      ConvData d(p, g);
      p.src_block = p.dst_block = b;  // d keeps the reference's plain layouts
      const auto r = ref_conv<float>(d);
      const auto x = blocked(d.x, p.N, p.C, p.H * p.W, b, true), dy = blocked(d.dy, p.N, p.O, p.OH * p.OW, b, true);
      std::vector<float> y(d.ny(), NAN), y_relu(d.ny(), NAN), dx(d.nx(), NAN), dw(d.w.size(), NAN), db(p.O, NAN),
          dw_nb(d.w.size(), NAN);
      REQUIRE(wino::applies(p));
      REQUIRE(wino::conv2d_forward(x.data(), d.w.data(), nullptr, y.data(), p));
      REQUIRE(wino::conv2d_backward_data(dy.data(), d.w.data(), dx.data(), p));
      REQUIRE(wino::conv2d_backward_weights(x.data(), dy.data(), dw.data(), db.data(), p));
      REQUIRE(wino::conv2d_backward_weights(x.data(), dy.data(), dw_nb.data(), nullptr, p));
      Conv2dParams relu = p;
      relu.relu = 1;
      REQUIRE(wino::conv2d_forward(x.data(), d.w.data(), d.b.data(), y_relu.data(), relu));
      const auto [y_nb, y_r] = without_bias_and_relu(r.y, d.b, p);
      CHECK(rel_err(blocked(y, p.N, p.O, p.OH * p.OW, b, false), y_nb) <= 1e-4);
      CHECK(rel_err(blocked(y_relu, p.N, p.O, p.OH * p.OW, b, false), y_r) <= 1e-4);
      CHECK(rel_err(blocked(dx, p.N, p.C, p.H * p.W, b, false), r.dx) <= 1e-4);
      CHECK(rel_err(dw, r.dw) <= 1e-4);
      CHECK(rel_err(dw_nb, r.dw) <= 1e-4);
      CHECK(rel_err(db, r.db) <= 1e-4);
    }
  }
  SUBCASE("declines what it does not compute") {
    Conv2dParams p = conv(1, 32, 8, 8, 32, 3, 3, 1, 1, 1, 1);
    p.src_block = p.dst_block = 8;
    CHECK(wino::applies(p));
    Conv2dParams q = p;
    q.dst_block = 0;
    CHECK_FALSE(wino::applies(q));
    q = conv(1, 8, 8, 8, 32, 3, 3, 1, 1, 1, 1);  // too few channels to pay
    q.src_block = q.dst_block = 8;
    CHECK_FALSE(wino::applies(q));
    q = conv(1, 32, 8, 8, 32, 3, 3, 2, 1, 1, 1);  // stride 2
    q.src_block = q.dst_block = 8;
    CHECK_FALSE(wino::applies(q));
    CHECK_FALSE(wino::conv2d_forward(nullptr, nullptr, nullptr, nullptr, q));
  }
}

TEST_CASE("winograd conv forward from nChw8c / nChw16c to NCHW output matches the f32 reference (+ bias, ReLU)") {
  namespace wino = fg::cpu::winograd;
#ifndef FG_SIMD_GEMM
  MESSAGE("no AVX2 and FMA in this build: no Winograd of ours");
  return;
#endif
  std::mt19937 g(79);
  const std::vector<Conv2dParams> cases = {
      conv(3, 128, 7, 7, 16, 3, 3, 1, 1, 1, 1),   // multiscale's last conv at 7x7
      conv(2, 96, 14, 14, 32, 3, 3, 1, 1, 1, 1),  // tiles overhang the edge
      conv(1, 32, 9, 11, 20, 3, 3, 1, 1, 1, 1),   // outputs padded to a whole block (8), H != W
      conv(2, 48, 6, 5, 40, 3, 3, 1, 0, 1, 1),    // no padding; padded to a whole block with 16
  };
  for (const int64_t b : our_blocks()) {
    for (Conv2dParams p : cases) {
      CAPTURE(b); CAPTURE(p.C); CAPTURE(p.O); CAPTURE(p.H); CAPTURE(p.W); CAPTURE(p.pad_h);
      if (p.C % b || p.O < 2 * b) continue;
      ConvData d(p, g);
      p.src_block = b;  // and NCHW output, as the reference's
      const auto r = ref_conv<float>(d);
      const auto x = blocked(d.x, p.N, p.C, p.H * p.W, b, true);
      std::vector<float> y(d.ny(), NAN), y_relu(d.ny(), NAN);
      CHECK_FALSE(wino::applies(p));  // not backward: that takes blocked dy and dx
      REQUIRE(wino::applies_nchw_output(p));
      REQUIRE(wino::conv2d_forward(x.data(), d.w.data(), nullptr, y.data(), p));
      Conv2dParams relu = p;
      relu.relu = 1;
      REQUIRE(wino::conv2d_forward(x.data(), d.w.data(), d.b.data(), y_relu.data(), relu));
      const auto [y_nb, y_r] = without_bias_and_relu(r.y, d.b, p);
      CHECK(rel_err(y, y_nb) <= 1e-4);
      CHECK(rel_err(y_relu, y_r) <= 1e-4);
    }
  }
  SUBCASE("declines what it does not compute") {
    Conv2dParams p = conv(1, 32, 8, 8, 16, 3, 3, 1, 1, 1, 1);
    p.src_block = 8;
    CHECK(wino::applies_nchw_output(p));
    Conv2dParams q = p;
    q.O = 8;  // one block of outputs: does not pay
    CHECK_FALSE(wino::applies_nchw_output(q));
    q = p;
    q.C = 8;  // too few inputs
    CHECK_FALSE(wino::applies_nchw_output(q));
    q = p;
    q.src_block = 0;  // an NCHW input
    CHECK_FALSE(wino::applies_nchw_output(q));
    CHECK_FALSE(wino::conv2d_forward(nullptr, nullptr, nullptr, nullptr, q));
  }
}

// ---- our weight gradient for few input channels, NCHW x and nChw8c / nChw16c dy (tensor/cpu/small_conv.cpp) ----
// Sums over N*OH*OW positions in f32 (split between threads): errors ~1e-6 of the scale.

TEST_CASE("small-channel conv weight gradient (NCHW x, blocked dy) matches the f32 reference, + bias") {
  namespace small = fg::cpu::small_conv;
#ifndef FG_SIMD_GEMM
  MESSAGE("no AVX2 and FMA in this build: no small-channel weight gradient of ours");
  return;
#endif
  std::mt19937 g(78);
  const std::vector<Conv2dParams> cases = {
      conv(3, 2, 14, 14, 128, 3, 3, 1, 1, 1, 1),  // glow's first conv at 14x14
      conv(3, 4, 7, 7, 128, 3, 3, 1, 1, 1, 1),    // and at 7x7
      conv(2, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1),   // simple's
      conv(1, 3, 9, 11, 16, 3, 3, 1, 1, 1, 1),    // an odd channel count, H != W
      conv(2, 8, 6, 5, 48, 3, 3, 1, 2, 1, 1),     // 8 channels, padding 2
      conv(2, 5, 6, 6, 16, 3, 3, 1, 0, 1, 1),     // no padding
  };
  for (const int64_t b : our_blocks()) {
    for (Conv2dParams p : cases) {
      CAPTURE(b); CAPTURE(p.C); CAPTURE(p.O); CAPTURE(p.H); CAPTURE(p.W); CAPTURE(p.pad_h);
      if (p.O % b) continue;
      ConvData d(p, g);
      p.dst_block = b;  // d keeps the reference's plain layouts
      const auto r = ref_conv<float>(d);
      const auto dy = blocked(d.dy, p.N, p.O, p.OH * p.OW, b, true);
      std::vector<float> dw(d.w.size(), NAN), db(p.O, NAN), dw_nb(d.w.size(), NAN);
      REQUIRE(small::applies(p));
      REQUIRE(small::conv2d_backward_weights(d.x.data(), dy.data(), dw.data(), db.data(), p));
      REQUIRE(small::conv2d_backward_weights(d.x.data(), dy.data(), dw_nb.data(), nullptr, p));
      CHECK(rel_err(dw, r.dw) <= 1e-5);
      CHECK(rel_err(dw_nb, r.dw) <= 1e-5);
      CHECK(rel_err(db, r.db) <= 1e-5);
    }
  }
  SUBCASE("declines what it does not compute") {
    Conv2dParams p = conv(1, 2, 8, 8, 32, 3, 3, 1, 1, 1, 1);
    p.dst_block = 8;
    CHECK(small::applies(p));
    Conv2dParams q = p;
    q.dst_block = 0;  // NCHW dy
    CHECK_FALSE(small::applies(q));
    q = conv(1, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1);  // too many input channels
    q.dst_block = 8;
    CHECK_FALSE(small::applies(q));
    q = conv(1, 2, 8, 8, 32, 5, 5, 1, 2, 1, 1);  // 5x5
    q.dst_block = 8;
    CHECK_FALSE(small::applies(q));
    q = conv(1, 2, 8, 8, 32, 3, 3, 2, 1, 1, 1);  // stride 2
    q.dst_block = 8;
    CHECK_FALSE(small::applies(q));
    q = conv(1, 2, 8, 8, 32, 3, 3, 1, 1, 1, 1);
    q.src_block = q.dst_block = 8;  // blocked x
    CHECK_FALSE(small::applies(q));
    CHECK_FALSE(small::conv2d_backward_weights(nullptr, nullptr, nullptr, nullptr, q));
  }
}

// ---- our 1x1 weight gradient, nChw8c / nChw16c on both sides (tensor/cpu/pointwise_conv.cpp) ----
// Sums over N*H*W positions in f32 (split between threads): errors ~1e-6 of the scale.

TEST_CASE("blocked 1x1 conv weight gradient matches the f32 reference, + bias") {
  namespace pw = fg::cpu::pointwise_conv;
#ifndef FG_SIMD_GEMM
  MESSAGE("no AVX2 and FMA in this build: no 1x1 weight gradient of ours");
  return;
#endif
  std::mt19937 g(79);
  // input blocks per tile row: 16 (3+3+3+3+2+2), 8 (3+3+2), 5 (3+2), 4 (2+2), 3, 2, 1
  const std::vector<Conv2dParams> cases = {
      conv(3, 128, 7, 7, 48, 1, 1, 1, 0, 1, 1),   // glow's taps conv at 7x7
      conv(2, 64, 9, 5, 32, 1, 1, 1, 0, 1, 1),
      conv(3, 40, 4, 6, 16, 1, 1, 1, 0, 1, 1),
      conv(2, 48, 3, 3, 64, 1, 1, 1, 0, 1, 1),
      conv(1, 16, 5, 5, 16, 1, 1, 1, 0, 1, 1),
      conv(2, 8, 2, 7, 8, 1, 1, 1, 0, 1, 1),
  };
  int ran = 0;
  for (const int64_t b : our_blocks()) {
    for (Conv2dParams p : cases) {
      CAPTURE(b); CAPTURE(p.C); CAPTURE(p.O); CAPTURE(p.H); CAPTURE(p.W);
      if (p.O % b || p.C % b) continue;
      ConvData d(p, g);
      p.src_block = p.dst_block = b;  // d keeps the reference's plain layouts
      const auto r = ref_conv<float>(d);
      const auto x = blocked(d.x, p.N, p.C, p.H * p.W, b, true);
      const auto dy = blocked(d.dy, p.N, p.O, p.OH * p.OW, b, true);
      std::vector<float> dw(d.w.size(), NAN), db(p.O, NAN), dw_nb(d.w.size(), NAN);
      REQUIRE(pw::applies(p));
      REQUIRE(pw::conv2d_backward_weights(x.data(), dy.data(), dw.data(), db.data(), p));
      REQUIRE(pw::conv2d_backward_weights(x.data(), dy.data(), dw_nb.data(), nullptr, p));
      CHECK(rel_err(dw, r.dw) <= 1e-5);
      CHECK(rel_err(dw_nb, r.dw) <= 1e-5);
      CHECK(rel_err(db, r.db) <= 1e-5);
      ++ran;
    }
  }
  CHECK(ran >= 6);
  SUBCASE("declines what it does not compute") {
    Conv2dParams p = conv(1, 16, 8, 8, 32, 1, 1, 1, 0, 1, 1);
    p.src_block = p.dst_block = 8;
    CHECK(pw::applies(p));
    Conv2dParams q = p;
    q.src_block = 0;  // NCHW x
    CHECK_FALSE(pw::applies(q));
    q = conv(1, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1);  // 3x3
    q.src_block = q.dst_block = 8;
    CHECK_FALSE(pw::applies(q));
    q = conv(1, 16, 8, 8, 32, 1, 1, 2, 0, 1, 1);  // stride 2
    q.src_block = q.dst_block = 8;
    CHECK_FALSE(pw::applies(q));
    q = conv(1, 12, 8, 8, 32, 1, 1, 1, 0, 1, 1);  // channels not whole blocks
    q.src_block = q.dst_block = 8;
    CHECK_FALSE(pw::applies(q));
    CHECK_FALSE(pw::conv2d_backward_weights(nullptr, nullptr, nullptr, nullptr, q));
  }
}
