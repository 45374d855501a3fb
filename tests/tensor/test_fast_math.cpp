// The vectorizable f32 exp/expm1/tanh/log/erf against std:: and the fused ConcatELU against its definition.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "flowgrad/autograd/functional.h"
#include "tensor/cpu/fast_math.h"
#include "flowgrad/tensor/ops.h"
#include "tensor/ops_internal.h"

using namespace fg;

TEST_CASE("fast_expf is within 4 ulp of std::exp over the f32 range; edge cases") {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0007) {
    float xf = static_cast<float>(x);
    double ref = std::exp(static_cast<double>(xf));
    double rel = std::abs(cpu::fast_expf(xf) - ref) / ref;
    worst = std::max(worst, rel);
  }
  INFO("max relative error ", worst);
  CHECK(worst < 4 * 5.96e-8);
  CHECK(std::isinf(cpu::fast_expf(100.0f)));
  CHECK(cpu::fast_expf(-200.0f) == 0.0f);
  CHECK(std::isnan(cpu::fast_expf(NAN)));
  CHECK(cpu::fast_expf(0.0f) == 1.0f);
}

TEST_CASE("fast_tanhf is within 8 ulp of std::tanh, relative, near 0 and saturates to +-1") {
  double worst = 0;
  for (double x = -12; x <= 12; x += 0.00041) {
    float xf = static_cast<float>(x);
    double ref = std::tanh(static_cast<double>(xf));
    if (ref == 0) continue;
    worst = std::max(worst, std::abs(cpu::fast_tanhf(xf) - ref) / std::abs(ref));
  }
  INFO("max relative error ", worst);
  CHECK(worst < 8 * 5.96e-8);
  CHECK(cpu::fast_tanhf(50.0f) == 1.0f);
  CHECK(cpu::fast_tanhf(-50.0f) == -1.0f);
  CHECK(cpu::fast_tanhf(1e-20f) == 1e-20f);
  CHECK(std::isnan(cpu::fast_tanhf(NAN)));
}

TEST_CASE("fast_erff is within 8 ulp of std::erf, relative, over [-6, 6]; odd, saturating, NaN") {
  double worst = 0;
  for (double x = -6; x <= 6; x += 0.00037) {
    float xf = static_cast<float>(x);
    double ref = std::erf(static_cast<double>(xf));
    if (ref == 0) continue;
    worst = std::max(worst, std::abs(cpu::fast_erff(xf) - ref) / std::abs(ref));
  }
  INFO("max relative error ", worst);
  CHECK(worst < 8 * 5.96e-8);
  CHECK(cpu::fast_erff(1e-20f) == doctest::Approx(1.1283791670955126e-20).epsilon(1e-6));
  CHECK(cpu::fast_erff(0.0f) == 0.0f);
  CHECK(cpu::fast_erff(-0.7f) == -cpu::fast_erff(0.7f));
  CHECK(cpu::fast_erff(30.0f) == 1.0f);
  CHECK(cpu::fast_erff(-30.0f) == -1.0f);
  CHECK(std::isnan(cpu::fast_erff(NAN)));
}

TEST_CASE("fast_expm1f keeps relative precision near 0") {
  double worst = 0;
  for (double x = -10; x <= 10; x += 0.00037) {
    float xf = static_cast<float>(x);
    double ref = std::expm1(static_cast<double>(xf));
    if (ref == 0) continue;
    worst = std::max(worst, std::abs(cpu::fast_expm1f(xf) - ref) / std::abs(ref));
  }
  INFO("max relative error ", worst);
  CHECK(worst < 8 * 5.96e-8);
}

TEST_CASE("the non-positive-argument exp and expm1 (sigmoid's, ConcatELU's) match the general ones") {
  // same reduction and polynomial, fewer edge tests: bit for bit equal wherever x <= 0
  for (double x = -110; x <= 0; x += 0.00071) {
    const float xf = static_cast<float>(x);
    CAPTURE(xf);
    REQUIRE(cpu::fast_exp_nonposf(xf) == cpu::fast_expf(xf));
    REQUIRE(cpu::fast_expm1_nonposf(xf) == cpu::fast_expm1f(xf));
  }
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(cpu::fast_exp_nonposf(-inf) == 0.0f);
  CHECK(cpu::fast_expm1_nonposf(-inf) == -1.0f);
  CHECK(cpu::fast_exp_nonposf(-0.0f) == 1.0f);
  CHECK(cpu::fast_expm1_nonposf(-0.0f) == 0.0f);
  CHECK(std::isnan(cpu::fast_exp_nonposf(NAN)));  // no test of their own: NaN passes through
  CHECK(std::isnan(cpu::fast_expm1_nonposf(NAN)));
}

TEST_CASE("fast_logf and fast_log1pf are within a few ulp of std:: over the f32 range; edge cases") {
  double worst = 0, worst1p = 0;
  for (double t = -100; t <= 88; t += 0.0011) {  // x = e^t: every binade from 4e-44 (subnormal) to 1.6e38
    const float xf = static_cast<float>(std::exp(t));
    if (xf == 0.0f) continue;
    const double ref = std::log(static_cast<double>(xf));
    worst = std::max(worst, std::abs(cpu::fast_logf(xf) - ref) / std::max(std::abs(ref), 1e-30));
  }
  for (double u = -0.999; u <= 50; u += 0.00031) {
    const float uf = static_cast<float>(u);
    const double ref = std::log1p(static_cast<double>(uf));
    if (ref == 0) continue;
    worst1p = std::max(worst1p, std::abs(cpu::fast_log1pf(uf) - ref) / std::abs(ref));
  }
  for (float uf : {1e-30f, 1e-10f, -3e-8f, 5e-6f}) {
    const double ref = std::log1p(static_cast<double>(uf));
    worst1p = std::max(worst1p, std::abs(cpu::fast_log1pf(uf) - ref) / std::abs(ref));
  }
  INFO("log max relative error ", worst, ", log1p ", worst1p);
  CHECK(worst < 4 * 5.96e-8);
  CHECK(worst1p < 8 * 5.96e-8);
  CHECK(cpu::fast_logf(1.0f) == 0.0f);
  CHECK(std::isinf(cpu::fast_logf(0.0f)));
  CHECK(cpu::fast_logf(0.0f) < 0);
  CHECK(std::isnan(cpu::fast_logf(-1.0f)));
  CHECK(std::isnan(cpu::fast_logf(NAN)));
  CHECK(std::isinf(cpu::fast_logf(INFINITY)));
  CHECK(std::isinf(cpu::fast_log1pf(-1.0f)));
  CHECK(std::isnan(cpu::fast_log1pf(-2.0f)));
  CHECK(std::isinf(cpu::fast_log1pf(INFINITY)));
}

TEST_CASE("fused gated_residual equals x + a * sigmoid(b) and its backward the composite's") {
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = randn({2, 3, 4, 5}, t), h = randn({2, 6, 4, 5}, t) * scalar(3.0, t);
    Tensor a = slice(h, 1, 0, 3), b = slice(h, 1, 3, 6);
    CHECK(max_abs_diff(gated_residual(x, h), x + a * sigmoid(b)) < (t == DType::F32 ? 1e-6 : 1e-15));
    Tensor g = randn(x.shape(), t);
    Tensor dh = gated_residual_backward(h, g);
    Tensor s = sigmoid(b);
    Tensor expect = concat({g * s, g * a * s * (scalar(1.0, t) - s)}, 1);
    CHECK(max_abs_diff(dh, expect) < (t == DType::F32 ? 1e-6 : 1e-15));
  }
  CHECK_THROWS_WITH(gated_residual(randn({2, 3, 4}), randn({2, 3, 4})),
                    doctest::Contains("gated_residual: needs x [N, C, ...] and h [N, 2C, ...]"));
}

// the composite glow used before: t = h[:, 0::2], r = h[:, 1::2] + 2, y = [za, (zb + t) sigmoid(r)]
// (reverse: zb / sigmoid(r) - t), logdet = -sum softplus(-r) per sample
SigmoidCoupling composite_coupling(const Tensor& z, const Tensor& h, int64_t ca, bool reverse) {
  const Shape& s = h.shape();
  const int64_t cb = z.size(1) - ca;
  Tensor h5 = h.reshape({s[0], cb, 2, s[2], s[3]});
  Tensor t = slice(h5, 2, 0, 1).contiguous().reshape({s[0], cb, s[2], s[3]});
  Tensor r = slice(h5, 2, 1, 2).contiguous().reshape({s[0], cb, s[2], s[3]}) + 2.0;
  Tensor za = slice(z, 1, 0, ca), zb = slice(z, 1, ca, z.size(1));
  Tensor yb = reverse ? zb / sigmoid(r) - t : (zb + t) * sigmoid(r);
  return {concat({za, yb}, 1), neg(sum(softplus(neg(r)), {1, 2, 3}))};
}

TEST_CASE("fused sigmoid_coupling equals glow's composite, inverts itself, and backward matches the composite's") {
  for (DType t : {DType::F32, DType::F64}) {
    const double tol = t == DType::F32 ? 2e-5 : 1e-12;
    for (int64_t ca : {1, 2}) {  // C = 4: even split, and 1 + 3
      CAPTURE(ca);
      Tensor z = randn({3, 4, 5, 6}, t), h = randn({3, 2 * (4 - ca), 5, 6}, t) * scalar(3.0, t);
      for (bool rev : {false, true}) {
        SigmoidCoupling f = sigmoid_coupling(z, h, ca, 2.0, rev), c = composite_coupling(z, h, ca, rev);
        CHECK(max_abs_diff(f.y, c.y) < tol);
        CHECK(max_abs_diff(f.logdet, c.logdet) / (1.0 + amax(abs(c.logdet)).item()) < tol);
        // gradients of <y, gy> + <logdet, gl> through both
        Tensor gy = randn(z.shape(), t), gl = randn({3}, t);
        ag::Var vz(z, true), vh(h, true), wz(z, true), wh(h, true);
        auto o = ag::sigmoid_coupling(vz, vh, ca, 2.0, rev);
        auto gf = ag::grad({o[0], o[1]}, {vz, vh}, {gy, gl});
        const Shape& s = h.shape();
        const int64_t cb = 4 - ca;
        ag::Var h5 = ag::reshape(wh, {s[0], cb, 2, s[2], s[3]});
        ag::Var tt = ag::reshape(ag::slice(h5, 2, 0, 1), {s[0], cb, s[2], s[3]});
        ag::Var r = ag::reshape(ag::slice(h5, 2, 1, 2), {s[0], cb, s[2], s[3]}) + 2.0;
        ag::Var zb = ag::slice(wz, 1, ca, 4);
        ag::Var yb = rev ? zb / ag::sigmoid(r) - tt : (zb + tt) * ag::sigmoid(r);
        ag::Var y = ag::concat({ag::slice(wz, 1, 0, ca), yb}, 1);
        ag::Var ld = -ag::sum(ag::softplus(-r), {1, 2, 3});
        auto gc = ag::grad({y, ld}, {wz, wh}, {gy, gl});
        CHECK(max_abs_diff(gf[0], gc[0]) < tol * 10);
        CHECK(max_abs_diff(gf[1], gc[1]) < tol * 10);
      }
      // reverse undoes forward, and the log-determinants are the same
      SigmoidCoupling f = sigmoid_coupling(z, h, ca, 2.0, false), b = sigmoid_coupling(f.y, h, ca, 2.0, true);
      CHECK(max_abs_diff(b.y, z) < tol);
      CHECK(max_abs_diff(b.logdet, f.logdet) == 0.0);
    }
    // large |r| stays finite: s and log s come from exp(-|r|)
    Tensor z = ones({1, 2, 1, 2}, t), h = from_vector(std::vector<double>{0, 0, -60, 60}, {1, 2, 1, 2}).to(t);
    SigmoidCoupling f = sigmoid_coupling(z, h, 1, 0.0, false);
    CHECK(f.y.to_vector<double>()[2] == doctest::Approx(0.0));
    CHECK(f.y.to_vector<double>()[3] == doctest::Approx(1.0));
    CHECK(f.logdet.item() == doctest::Approx(-60.0));
  }
  CHECK_THROWS_WITH(sigmoid_coupling(randn({2, 4, 3, 3}), randn({2, 2, 3, 3}), 2, 2.0, false),
                    doctest::Contains("sigmoid_coupling: needs h [N, 2(C - ca), ...] = [2, 4, 3, 3]"));
  CHECK_THROWS_WITH(sigmoid_coupling(randn({2, 4, 3, 3}), randn({2, 8, 3, 3}), 0, 2.0, false),
                    doctest::Contains("sigmoid_coupling: needs z [N, C, ...] with 0 < ca < C"));
}

TEST_CASE("gated_residual_layer_norm equals layer_norm(gated_residual(x, h)), plain and channel-blocked") {
  for (DType t : {DType::F32, DType::F64}) {
    const double tol = t == DType::F32 ? 2e-5 : 1e-12;
    // plain [N, C, H, W], and blocked [N, C/8, H, W, 8] (the residual's halves are whole blocks)
    for (auto [xs, hs, block] : {std::tuple{Shape{2, 5, 4, 3}, Shape{2, 10, 4, 3}, int64_t{0}},
                                 std::tuple{Shape{2, 2, 3, 3, 8}, Shape{2, 4, 3, 3, 8}, int64_t{8}}}) {
      CAPTURE(block);
      const int64_t c = block ? xs[1] * block : xs[1];
      Tensor x = randn(xs, t), h = randn(hs, t) * scalar(2.0, t), gamma = randn({c}, t), beta = randn({c}, t);
      LayerNormResult fused = gated_residual_layer_norm_forward(x, h, &gamma, &beta, 1e-5, block);
      LayerNormResult two = layer_norm_forward(gated_residual(x, h), 1, &gamma, &beta, 1e-5, block);
      CHECK(max_abs_diff(fused.y, two.y) < tol);
      CHECK(max_abs_diff(fused.mean, two.mean) < tol);
      CHECK(max_abs_diff(fused.rstd, two.rstd) < tol);
    }
  }
  CHECK_THROWS_WITH(gated_residual_layer_norm(randn({2, 3, 4}), randn({2, 3, 4}), nullptr, nullptr),
                    doctest::Contains("gated_residual_layer_norm: needs x [N, C, ...] and h [N, 2C, ...]"));
}

TEST_CASE("fused concat_elu equals concat(elu(x), elu(-x)) and its backward the composite's") {
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = randn({2, 3, 4, 5}, t);
    Tensor y = concat_elu(x);
    Tensor ref = concat({elu(x, 1.0), elu(neg(x), 1.0)}, 1);
    CHECK(max_abs_diff(y, ref) < (t == DType::F32 ? 1e-6 : 1e-15));
    Tensor g = randn(y.shape(), t);
    Tensor dx = concat_elu_backward(y, g);
    // d/dx: g1 * elu'(x) - g2 * elu'(-x), elu'(v) = v > 0 ? 1 : exp(v)
    Tensor zero = scalar(0.0, t);
    Tensor d1 = where(gt(x, zero), ones_like(x), exp(x));
    Tensor d2 = where(gt(neg(x), zero), ones_like(x), exp(neg(x)));
    Tensor expect = slice(g, 1, 0, 3) * d1 - slice(g, 1, 3, 6) * d2;
    CHECK(max_abs_diff(dx, expect) < (t == DType::F32 ? 1e-5 : 1e-12));
  }
}

TEST_CASE("the vectorized kernels keep NaN and the infinite limits (exp, expm1 via elu, tanh, sigmoid, ConcatELU)") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v;
  for (int i = 0; i < 16; ++i) v.insert(v.end(), {NAN, inf, -inf, 0.5f});  // 64: whole vectors
  const Tensor x = from_vector(v, {64});
  auto at = [](const Tensor& t, int64_t i) { return t.to_vector<float>()[static_cast<size_t>(i)]; };
  for (int64_t k : {0, 60}) {
    CAPTURE(k);
    CHECK(std::isnan(at(exp(x), k)));
    CHECK(at(exp(x), k + 1) == inf);
    CHECK(at(exp(x), k + 2) == 0.0f);
    CHECK(std::isnan(at(elu(x, 1.0), k)));
    CHECK(at(elu(x, 1.0), k + 2) == -1.0f);
    CHECK(std::isnan(at(tanh(x), k)));
    CHECK(at(tanh(x), k + 1) == 1.0f);
    CHECK(at(tanh(x), k + 2) == -1.0f);
    CHECK(std::isnan(at(sigmoid(x), k)));
    CHECK(at(sigmoid(x), k + 1) == 1.0f);
    CHECK(at(sigmoid(x), k + 2) == 0.0f);
  }
  const Tensor ce = concat_elu(x.reshape({1, 64, 1, 1}));
  CHECK(std::isnan(at(ce, 0)));
  CHECK(std::isnan(at(ce, 64)));
  CHECK(at(ce, 64 + 1) == -1.0f);  // elu(-inf)
  CHECK(at(ce, 2) == -1.0f);
  CHECK(std::isnan(cpu::fast_expm1f(NAN)));
  CHECK(cpu::fast_expm1f(inf) == inf);
  CHECK(cpu::fast_expm1f(-inf) == -1.0f);
}
