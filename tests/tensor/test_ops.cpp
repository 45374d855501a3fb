// Op semantics (broadcasting, reductions, layout, conv geometry) and the errors bad calls raise.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/tensor/ops.h"
#include "tensor/ops_internal.h"

using namespace fg;

TEST_CASE("binary ops broadcast like NumPy") {
  Tensor a = arange(0, 6, 1, DType::F64).reshape({2, 3, 1});
  Tensor b = arange(0, 4, 1, DType::F64).reshape({1, 4});
  Tensor c = a * 10.0 + b;  // [2, 3, 4]
  CHECK(c.shape() == Shape{2, 3, 4});
  auto v = c.to_vector<double>();
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) CHECK(v[i * 4 + j] == 10.0 * i + j);
  Tensor s = scalar(2.0, DType::F64);
  CHECK((a * s).to_vector<double>() == std::vector<double>{0, 2, 4, 6, 8, 10});
  // a strided (non-last-dim) broadcast
  Tensor col = from_vector<double>({1, 2}, {2, 1, 1});
  Tensor d = sub(ones({2, 2, 2}, DType::F64), col);
  CHECK(d.to_vector<double>() == std::vector<double>{0, 0, 0, 0, -1, -1, -1, -1});
}

TEST_CASE("unary math matches std") {
  std::vector<double> xs{-3.5, -0.7, 0.2, 1.3, 25.0};
  Tensor x = from_vector(xs, {5});
  auto sp = softplus(x).to_vector<double>();
  auto sg = sigmoid(x).to_vector<double>();
  auto el = elu(x, 0.5).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(sp[i] == doctest::Approx(std::log1p(std::exp(xs[i]))).epsilon(1e-12));
    CHECK(sg[i] == doctest::Approx(1 / (1 + std::exp(-xs[i]))).epsilon(1e-12));
    CHECK(el[i] == doctest::Approx(xs[i] > 0 ? xs[i] : 0.5 * (std::exp(xs[i]) - 1)).epsilon(1e-12));
  }
  auto sn = sin(x).to_vector<double>(), cs = cos(x.to(DType::F32)).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(sn[i] == doctest::Approx(std::sin(xs[i])).epsilon(1e-15));
    CHECK(cs[i] == doctest::Approx(std::cos(xs[i])).epsilon(1e-6));
  }
  CHECK(clamp(x, -1, 1).to_vector<double>() == std::vector<double>{-1, -0.7, 0.2, 1, 1});
  CHECK(floor(x).to_vector<double>() == std::vector<double>{-4, -1, 0, 1, 25});
  // softplus stays finite for large |x|
  Tensor big = from_vector<float>({-200.f, 200.f}, {2});
  auto spb = softplus(big).to_vector<float>();
  CHECK(spb[0] >= 0.f);
  CHECK(spb[1] == 200.f);
}

TEST_CASE("SiLU and SELU forward values match their definitions (f64 and f32, both signs, large |x|)") {
  // SiLU x sigmoid(x) (Elfwing et al.); SELU scale * (x > 0 ? x : alpha (e^x - 1)) with Klambauer
  // et al.'s constants, as torch.nn.SELU
  const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
  std::vector<double> xs{-30.0, -4.5, -1.0, -0.25, 0.0, 0.3, 2.0, 12.0, 40.0};
  for (DType t : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(t));
    const double tol = t == DType::F64 ? 1e-14 : 3e-7;
    Tensor x = from_vector(xs, {static_cast<int64_t>(xs.size())}).to(t);
    auto si = silu(x).to_vector<double>(), se = selu(x).to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i) {
      CAPTURE(xs[i]);
      const double want_si = xs[i] / (1 + std::exp(-xs[i]));
      const double want_se = scale * (xs[i] > 0 ? xs[i] : alpha * std::expm1(xs[i]));
      CHECK(std::abs(si[i] - want_si) <= tol * std::max(1.0, std::abs(want_si)));
      CHECK(std::abs(se[i] - want_se) <= tol * std::max(1.0, std::abs(want_se)));
    }
  }
  CHECK(silu(from_vector<double>({-800.0}, {1})).item() == 0.0);  // no overflow in exp(-x)
  CHECK(selu(from_vector<double>({-800.0}, {1})).item() == doctest::Approx(-scale * alpha).epsilon(1e-15));
}

TEST_CASE("GELU forward values match x Phi(x) with the exact erf, as torch.nn.GELU (f64 and f32)") {
  std::vector<double> xs{-12.0, -5.0, -3.0, -1.0, -0.25, 0.0, 1e-3, 0.3, 1.5, 4.0, 9.0};
  for (DType t : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(t));
    // f32: the erf's few ulp, and the cancellation of 1 + erf(x / sqrt 2) in f32 for x < 0 (torch's
    // formula has the same), an absolute error near 1e-7 |x|
    const double tol = t == DType::F64 ? 1e-15 : 4e-7;
    Tensor x = from_vector(xs, {static_cast<int64_t>(xs.size())}).to(t);
    auto y = gelu(x).to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i) {
      CAPTURE(xs[i]);
      const double want = 0.5 * xs[i] * std::erfc(-xs[i] / std::sqrt(2.0));
      CHECK(std::abs(y[i] - want) <= tol * std::max(1.0, std::abs(xs[i])));
    }
  }
  CHECK(gelu(from_vector<double>({1.0}, {1})).item() == doctest::Approx(0.8413447460685429).epsilon(1e-15));
}

TEST_CASE("comparisons and where") {
  Tensor a = from_vector<float>({1, 2, 3}, {3});
  Tensor b = from_vector<float>({2, 2, 2}, {3});
  CHECK(gt(a, b).to_vector<float>() == std::vector<float>{0, 0, 1});
  CHECK(le(a, b).to_vector<float>() == std::vector<float>{1, 1, 0});
  CHECK(where(ge(a, b), a, b * 10.0).to_vector<float>() == std::vector<float>{20, 2, 3});
}

TEST_CASE("reductions over dim sets, keepdim, and the permuted path") {
  Tensor x = arange(0, 24, 1, DType::F64).reshape({2, 3, 4});
  CHECK(sum(x).item() == 276.0);
  Tensor s1 = sum(x, {1});
  CHECK(s1.shape() == Shape{2, 4});
  CHECK(s1.to_vector<double>() == std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57});
  Tensor s02 = sum(x, {0, 2}, true);  // not contiguous: goes through permute
  CHECK(s02.shape() == Shape{1, 3, 1});
  CHECK(s02.to_vector<double>() == std::vector<double>{60, 92, 124});
  CHECK(amax(x, {-1}).to_vector<double>() == std::vector<double>{3, 7, 11, 15, 19, 23});
  CHECK(amin(x, {0, 1}).to_vector<double>() == std::vector<double>{0, 1, 2, 3});
  CHECK(mean(x, {1, 2}).to_vector<double>() == std::vector<double>{5.5, 17.5});
  Tensor l = logsumexp(from_vector<double>({1000, 1000, -5, -5}, {2, 2}), {1});
  auto lv = l.to_vector<double>();
  CHECK(lv[0] == doctest::Approx(1000 + std::log(2.0)));
  CHECK(lv[1] == doctest::Approx(-5 + std::log(2.0)));
  CHECK(sum_to(ones({2, 3, 4}, DType::F64), {3, 1}).to_vector<double>() == std::vector<double>{8, 8, 8});
}

TEST_CASE("permute, concat, slice, split, broadcast_to") {
  Tensor x = arange(0, 6).reshape({2, 3});
  CHECK(transpose(x, 0, 1).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor c = concat({x, x * 2.0}, 1);
  CHECK(c.shape() == Shape{2, 6});
  CHECK(c.to_vector<float>() == std::vector<float>{0, 1, 2, 0, 2, 4, 3, 4, 5, 6, 8, 10});
  CHECK(slice(c, 1, 2, 4).to_vector<float>() == std::vector<float>{2, 0, 5, 6});
  CHECK(slice(c, -1, -2, 6).to_vector<float>() == std::vector<float>{2, 4, 8, 10});
  auto parts = chunk(c, 3, 1);
  CHECK(parts.size() == 3);
  CHECK(parts[2].to_vector<float>() == std::vector<float>{2, 4, 8, 10});
  CHECK(broadcast_to(from_vector<float>({1, 2}, {2, 1}), {2, 3}).to_vector<float>() ==
        std::vector<float>{1, 1, 1, 2, 2, 2});
  Tensor sb = slice_backward(ones({2, 1}), {2, 3}, 1, 1);
  CHECK(sb.to_vector<float>() == std::vector<float>{0, 1, 0, 0, 1, 0});
  // a 4-D permute (NCHW -> NHWC) checked element by element
  Tensor y = arange(0, 2 * 3 * 4 * 5).reshape({2, 3, 4, 5});
  auto p = permute(y, {0, 2, 3, 1}).to_vector<float>();
  for (int n = 0; n < 2; ++n)
    for (int c2 = 0; c2 < 3; ++c2)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 5; ++w) CHECK(p[((n * 4 + h) * 5 + w) * 3 + c2] == ((n * 3 + c2) * 4 + h) * 5 + w);
}

TEST_CASE("matmul with batches, broadcasting and transposes") {
  Tensor a = arange(0, 6, 1, DType::F64).reshape({2, 3});
  Tensor b = arange(0, 6, 1, DType::F64).reshape({3, 2});
  CHECK(matmul(a, b).to_vector<double>() == std::vector<double>{10, 13, 28, 40});
  CHECK(matmul(b, b, true, false).shape() == Shape{2, 2});
  CHECK(max_abs_diff(matmul(a, a, false, true), matmul(a, transpose(a, 0, 1))) == 0.0);
  Tensor ab = broadcast_to(a.reshape({1, 2, 3}), {4, 2, 3});
  Tensor r = matmul(ab, b);
  CHECK(r.shape() == Shape{4, 2, 2});
  CHECK(max_abs_diff(slice(r, 0, 3, 4).reshape({2, 2}), matmul(a, b)) == 0.0);
}

TEST_CASE("conv2d geometry and a known answer") {
  // 1 channel 3x3 input, 2x2 kernel of ones: sums of 2x2 windows
  Tensor x = arange(1, 10, 1, DType::F64).reshape({1, 1, 3, 3});
  Tensor w = ones({1, 1, 2, 2}, DType::F64);
  CHECK(conv2d(x, w).to_vector<double>() == std::vector<double>{12, 16, 24, 28});
  ConvOptions o;
  o.padding = 1;
  o.stride = 2;
  CHECK(conv2d(x, w, nullptr, o).shape() == Shape{1, 1, 2, 2});
  // the tutorial's 4x4 stride 2 pad 1 conv halves the size; its transpose doubles it back
  ConvOptions down;
  down.stride = 2;
  down.padding = 1;
  Tensor img = randn({2, 3, 28, 28});
  Tensor y = conv2d(img, randn({8, 3, 4, 4}), nullptr, down);
  CHECK(y.shape() == Shape{2, 8, 14, 14});
  CHECK(conv_transpose2d(y, randn({8, 3, 4, 4}), nullptr, down).shape() == Shape{2, 3, 28, 28});
}

TEST_CASE("a K x K conv equals a 1x1 conv to K*K*O tap-major channels and tap_sum; its backward is the adjoint") {
  for (DType t : {DType::F64, DType::F32}) {
    for (int64_t k : {3, 5}) {
      CAPTURE(k);
      const int64_t O = 3, C = 5;
      Tensor x = randn({2, C, 7, 6}, t), w = randn({O, C, k, k}, t);
      ConvOptions o;
      o.padding = Pair2{k / 2};
      // w' [K*K*O, C, 1, 1]: row (i*K + j)*O + o is w[o, :, i, j]
      Tensor w1 = permute(w, {2, 3, 0, 1}).contiguous().reshape({k * k * O, C, 1, 1});
      Tensor y = conv2d(x, w, nullptr, o), z = conv2d(x, w1);
      CHECK(max_abs_diff(tap_sum(z, k), y) < (t == DType::F64 ? 1e-12 : 1e-4));
      // <tap_sum(z), g> == <z, tap_sum_backward(g)>
      Tensor g = randn(y.shape(), t);
      const double lhs = sum(tap_sum(z, k) * g).item(), rhs = sum(z * tap_sum_backward(g, k)).item();
      CHECK(lhs == doctest::Approx(rhs).epsilon(t == DType::F64 ? 1e-12 : 1e-4));
    }
  }
  CHECK_THROWS_WITH(tap_sum(randn({1, 10, 3, 3}), 3), doctest::Contains("tap_sum: needs [N, 9*O, H, W]"));
}

TEST_CASE("tap_sum on a channel-blocked z (K*K*O channels padded to whole blocks) equals it on NCHW z") {
  // O = 3 does not divide a block (the strided path); 1, 2, 4 and 8 do (the row path)
  for (int64_t b : {8, 16}) {
    for (int64_t O : {1, 2, 3, 4, 8}) {
      for (int64_t k : {3, 5}) {
        CAPTURE(b);
        CAPTURE(O);
        CAPTURE(k);
        const int64_t taps = k * k * O, P = (taps + b - 1) / b * b;  // e.g. 18 -> 24 or 32
        // [N, C, H, W] -> [N, P/b, H, W, b], channels C..P zero
        auto to_blocks = [&](const Tensor& t) {
          const Shape& s = t.shape();
          Tensor padded = concat({t, zeros({s[0], P - s[1], s[2], s[3]}, t.dtype())}, 1);
          return permute(padded.reshape({s[0], P / b, b, s[2], s[3]}), {0, 1, 3, 4, 2}).contiguous();
        };
        for (DType t : {DType::F64, DType::F32}) {
          Tensor z = randn({2, taps, 5, 7}, t), g = randn({2, O, 5, 7}, t);
          CHECK(max_abs_diff(tap_sum(to_blocks(z), k, O), tap_sum(z, k)) < (t == DType::F64 ? 1e-12 : 1e-5));
          // the adjoint writes the padding channels too, as zeros
          Tensor filler = full({2, P / b, 5, 7, b}, 7.0, t);  // leaves non-zero memory to reuse
          filler = Tensor();
          const Tensor dz = tap_sum_backward(g, k, b);
          REQUIRE(dz.shape() == Shape{2, P / b, 5, 7, b});
          CHECK(max_abs_diff(dz, to_blocks(tap_sum_backward(g, k))) == 0.0);
        }
        if (tap_channels(k, O + 2, b) != P)
          CHECK_THROWS_WITH(tap_sum(to_blocks(randn({2, taps, 5, 7})), k, O + 2), doctest::Contains("holds"));
      }
    }
    const int64_t P = (18 + b - 1) / b * b;
    CHECK_THROWS_WITH(tap_sum(randn({2, P / b, 5, 7, b}), 3), doctest::Contains("tap_sum: a blocked"));
  }
}

TEST_CASE("channel-blocked conv2d (oneDNN's nChw{b}c as [N, C/b, H, W, b]) equals NCHW conv2d") {
  const Tensor probe = zeros({1}, DType::F32);
  const int64_t b = conv_channel_block(probe);
  CHECK(conv_channel_block(zeros({1}, DType::F64)) == 0);
  if (b == 0) {
    MESSAGE("no oneDNN in this build: nothing to compare");
    return;
  }
  auto to_blocks = [b](const Tensor& t) {
    const Shape& s = t.shape();
    return permute(t.reshape({s[0], s[1] / b, b, s[2], s[3]}), {0, 1, 3, 4, 2}).contiguous();
  };
  auto from_blocks = [](const Tensor& t) {
    const Shape& s = t.shape();
    return permute(t, {0, 1, 4, 2, 3}).reshape({s[0], s[1] * s[4], s[2], s[3]});
  };
  // the blocked 3x3 convs run our Winograd, whose rounding is ~1e-5 of the outputs' scale (about
  // 50 here): compare relative to it, as the flow tests do
  auto close = [](const Tensor& a, const Tensor& ref) {
    return max_abs_diff(a, ref) < 1e-4 * (1 + max_abs_diff(ref, zeros_like(ref)));
  };
  for (int64_t k : {3, 1}) {
    CAPTURE(k);
    const int64_t C = 2 * b, O = b;
    Tensor x = randn({3, C, 7, 6}), w = randn({O, C, k, k}), bias = randn({O});
    ConvOptions o;
    o.padding = Pair2{k / 2};
    ConvOptions ob = o;
    ob.src_block = ob.dst_block = b;
    Tensor y = conv2d(x, w, &bias, o), yb = conv2d(to_blocks(x), w, &bias, ob);
    REQUIRE(yb.shape() == Shape{3, O / b, 7, 6, b});
    CHECK(close(from_blocks(yb), y));
    Tensor dy = randn(y.shape());
    CHECK(close(from_blocks(conv2d_backward_data(to_blocks(dy), w, to_blocks(x).shape(), ob)),
                conv2d_backward_data(dy, w, x.shape(), o)));
    Tensor db, db_b;
    Tensor dw = conv2d_backward_weights(x, dy, w.shape(), o, &db);
    Tensor dw_b = conv2d_backward_weights(to_blocks(x), to_blocks(dy), w.shape(), ob, &db_b);
    CHECK(close(dw_b, dw));
    CHECK(max_abs_diff(db_b, db) < 1e-4);
    ConvOptions src_only = o;  // blocked input, NCHW output
    src_only.src_block = b;
    CHECK(max_abs_diff(conv2d(to_blocks(x), w, &bias, src_only), y) < 1e-4);
    CHECK(conv_runs_fast(to_blocks(x), w.shape(), ob));
    CHECK_FALSE(conv_runs_fast(to_blocks(x).to(DType::F64), w.shape(), ob));
  }
  {  // NCHW input with few channels, blocked output (the first conv of a blocked net)
    Tensor x = randn({3, 2, 7, 6}), w = randn({2 * b, 2, 3, 3}), bias = randn({2 * b});
    ConvOptions o;
    o.padding = Pair2{1};
    ConvOptions dst_only = o;
    dst_only.dst_block = b;
    Tensor y = conv2d(x, w, &bias, o), yb = conv2d(x, w, &bias, dst_only);
    REQUIRE(yb.shape() == Shape{3, 2, 7, 6, b});
    CHECK(max_abs_diff(from_blocks(yb), y) < 1e-4);
    Tensor dy = randn(y.shape()), db, db_b;
    CHECK(max_abs_diff(conv2d_backward_data(to_blocks(dy), w, x.shape(), dst_only),
                       conv2d_backward_data(dy, w, x.shape(), o)) < 1e-4);
    Tensor dw = conv2d_backward_weights(x, dy, w.shape(), o, &db);
    CHECK(max_abs_diff(conv2d_backward_weights(x, to_blocks(dy), w.shape(), dst_only, &db_b), dw) < 1e-3);
    CHECK(max_abs_diff(db_b, db) < 1e-4);
  }
  ConvOptions ob;
  ob.src_block = b;
  CHECK_THROWS_WITH(conv2d(randn({1, 2 * b, 4, 4}), randn({b, 2 * b, 1, 1}), nullptr, ob),
                    doctest::Contains("channel-blocked input must be [N, C/"));
}

TEST_CASE("channel-blocked layer norm ([N, C/b, H, W, b], over C) equals NCHW layer norm over dim 1") {
  for (DType dt : {DType::F32, DType::F64}) {
    for (int64_t b : {8, 16}) {
      CAPTURE(b);
      auto to_blocks = [b](const Tensor& t) {
        const Shape& s = t.shape();
        return permute(t.reshape({s[0], s[1] / b, b, s[2], s[3]}), {0, 1, 3, 4, 2}).contiguous();
      };
      const int64_t C = 3 * b;
      const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
      Tensor x = randn({2, C, 5, 3}, dt) * 2.0 + 0.5, gamma = randn({C}, dt), beta = randn({C}, dt);
      Tensor dy = randn(x.shape(), dt);
      const LayerNormResult f = layer_norm_forward(x, 1, &gamma, &beta), fb = layer_norm_forward(to_blocks(x), 1, &gamma, &beta, 1e-5, b);
      CHECK(max_abs_diff(fb.y, to_blocks(f.y)) < tol);
      CHECK(max_abs_diff(fb.mean, f.mean) < tol);
      CHECK(max_abs_diff(fb.rstd, f.rstd) < tol);
      const LayerNormGrads g = layer_norm_backward(dy, x, 1, &gamma, f, true);
      const LayerNormGrads gb = layer_norm_backward(to_blocks(dy), to_blocks(x), 1, &gamma, fb, true);
      CHECK(max_abs_diff(gb.dx, to_blocks(g.dx)) < tol);
      CHECK(max_abs_diff(gb.dgamma, g.dgamma) < 10 * tol);
      CHECK(max_abs_diff(gb.dbeta, g.dbeta) < 10 * tol);
    }
  }
  CHECK_THROWS_WITH(layer_norm(randn({2, 3, 4, 4, 8}), 1, nullptr, nullptr, 1e-5, 16),
                    doctest::Contains("channel-blocked input is [N, C/16, ..., 16]"));
  CHECK_THROWS_WITH(layer_norm(randn({2, 3, 4, 4, 4}), 1, nullptr, nullptr, 1e-5, 4),
                    doctest::Contains("channel block 4 is not supported"));
}

TEST_CASE("conv_transpose2d is the adjoint of conv2d") {
  // <conv(x), y> == <x, conv_transpose(y)> for the same weights
  ConvOptions o;
  o.stride = 2;
  o.padding = 1;
  Tensor x = randn({2, 4, 9, 9}, DType::F64), w = randn({6, 4, 3, 3}, DType::F64);
  Tensor cx = conv2d(x, w, nullptr, o);
  Tensor y = randn(cx.shape(), DType::F64);
  // conv2d weight [O=6, C=4] is conv_transpose2d's [Cin=6, Cout=4]
  Tensor ty = conv_transpose2d(y, w, nullptr, o);
  CHECK(ty.shape() == x.shape());
  CHECK(sum(cx * y).item() == doctest::Approx(sum(x * ty).item()).epsilon(1e-10));
}

TEST_CASE("layer norm over a chosen dim") {
  Tensor x = randn({2, 5, 3, 3}, DType::F64);
  Tensor r = layer_norm(x, 1, nullptr, nullptr, 1e-5);
  Tensor m = mean(x, {1}, true);
  Tensor v = mean(square(x - m), {1}, true);
  Tensor expect = (x - m) / sqrt(v + 1e-5);
  CHECK(max_abs_diff(r, expect) < 1e-12);
}

TEST_CASE("bad calls throw errors naming the op and the shapes") {
  Tensor a = zeros({2, 3}), b = zeros({4, 3});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes [2, 3] and [4, 3]"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("matmul: inner dimensions differ ([2, 3] @ [4, 3])"), Error);
  CHECK_THROWS_WITH_AS(add(a, zeros({2, 3}, DType::F64)), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(sum(a, {2}), doctest::Contains("dim 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(permute(a, {0, 0}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3})),
                       doctest::Contains("conv2d: weight [4, 2, 3, 3] expects 2 input channels, input [1, 3, 8, 8]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({3, 8, 8}), zeros({4, 3, 3, 3})), doctest::Contains("[N, C, H, W]"), Error);
  CHECK_THROWS_WITH_AS(concat({a, b}, 1), doctest::Contains("concat: shapes [2, 3] and [4, 3]"), Error);
  CHECK_THROWS_WITH_AS(slice(a, 1, 2, 5), doctest::Contains("slice: range [2, 5)"), Error);
  CHECK_THROWS_WITH_AS(exp(zeros({2}, DType::I32)), doctest::Contains("exp: expected a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(a, 1, &b, nullptr), doctest::Contains("layer_norm"), Error);
}
