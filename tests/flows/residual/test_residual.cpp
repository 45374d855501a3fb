// Residual flows (flows/residual/): spectral normalization against the operator's true largest
// singular value, LipSwish, the nets' forward-mode derivative, the block's inverse and every
// log-det estimator against the exact log-det of the whole Jacobian (f64, small examples).
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/autograd/gradcheck.h"
#include "flowgrad/flows/check.h"
#include "flowgrad/flows/residual/resflow.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/nn/init.h"
#include "flowgrad/nn/optim.h"
#include "test_support.h"

using namespace fg;
using namespace fg::flows;

namespace {

// The largest singular value of the linear map f: R^D_in -> R^D_out (applied to [1, ...] inputs
// of shape in_shape), from its dense matrix: power iteration on A^T A in double, 2000 steps.
double operator_norm(const std::function<Tensor(const Tensor&)>& f, const Shape& in_shape) {
  const int64_t din = numel(in_shape);
  std::vector<std::vector<double>> cols;
  for (int64_t j = 0; j < din; ++j) {
    std::vector<double> e(static_cast<size_t>(din), 0.0);
    e[static_cast<size_t>(j)] = 1.0;
    cols.push_back(f(from_vector(e, in_shape)).to_vector<double>());
  }
  const size_t dout = cols[0].size();
  std::vector<double> v(static_cast<size_t>(din), 1.0);
  double s = 0;
  for (int it = 0; it < 2000; ++it) {
    std::vector<double> av(dout, 0.0), atav(static_cast<size_t>(din), 0.0);
    for (int64_t j = 0; j < din; ++j)
      for (size_t i = 0; i < dout; ++i) av[i] += cols[static_cast<size_t>(j)][i] * v[static_cast<size_t>(j)];
    for (int64_t j = 0; j < din; ++j)
      for (size_t i = 0; i < dout; ++i) atav[static_cast<size_t>(j)] += cols[static_cast<size_t>(j)][i] * av[i];
    double n = 0;
    for (double a : atav) n += a * a;
    n = std::sqrt(n);
    s = std::sqrt(n);  // |A^T A v| for unit v -> sigma^2
    for (size_t j = 0; j < v.size(); ++j) v[j] = atav[j] / n;
  }
  return s;
}

void scale_weights(nn::Module& m, double factor) {
  ag::NoGradGuard ng;
  for (auto& [name, p] : m.named_parameters())
    if (name.find("weight") != std::string::npos) {
      ag::Var v = p;
      v.mutable_value() = v.value() * factor;
    }
}

// A residual net on [1, 2, 2, 2] examples (D = 8), f64, its spectral norms well below 1 so that
// short series are accurate.
std::shared_ptr<LipschitzNet> small_conv_net(double coeff = 0.6) {
  SpectralNormOptions o;
  o.coeff = coeff;
  o.tol = 1e-9;
  o.max_iters = 500;
  auto net = lipschitz_conv_net(2, 6, 2, 2, /*preact=*/true, o);
  net->to(DType::F64);
  scale_weights(*net, 4.0);  // every layer's raw norm above coeff: the rescaling is active
  net->weights_changed();
  return net;
}

}  // namespace

TEST_CASE("spectral normalization: each layer's largest singular value is at most coeff (dense SVD check)") {
  manual_seed(1);
  SpectralNormOptions o;
  o.coeff = 0.9;
  SUBCASE("linear") {
    SNLinear l(5, 7, o);
    l.to(DType::F64);
    scale_weights(l, 5.0);
    l.update();
    ag::NoGradGuard ng;
    const Tensor w = l.weight_eff().value();
    const double s = operator_norm([&](const Tensor& x) { return matmul(x, w, false, true); }, {1, 5});
    CHECK(s <= o.coeff * (1 + 2e-3));
    CHECK(s >= o.coeff * 0.98);  // the raw weight was far above: the bound is reached
  }
  for (int64_t k : {1, 3}) {
    CAPTURE(k);
    SNConv2d c(3, 4, k, 5, 4, o);
    c.to(DType::F64);
    scale_weights(c, 5.0);
    c.update();
    ag::NoGradGuard ng;
    const Tensor w = c.weight_eff().value();
    ConvOptions co;
    co.padding = k / 2;
    // the whole conv operator on 3x5x4 inputs, not the kernel's matrix
    const double s = operator_norm([&](const Tensor& x) { return conv2d(x, w, nullptr, co); }, {1, 3, 5, 4});
    CHECK(s <= o.coeff * (1 + 2e-3));
    CHECK(s >= o.coeff * 0.98);
    CHECK(c.sigma() > o.coeff);  // sigma of the raw weight
  }
}

TEST_CASE("LipSwish: x sigmoid(softplus(b) x) / 1.1, slope below 1, gradients") {
  LipSwish a;
  a.to(DType::F64);
  Tensor x = linspace(-8, 8, 401, DType::F64);
  const double b = std::log1p(std::exp(0.5));
  auto y = a(Var(x)).value().to_vector<double>();
  auto xs = x.to_vector<double>();
  double max_slope = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(y[i] == doctest::Approx(xs[i] / (1 + std::exp(-b * xs[i])) / 1.1).epsilon(1e-13));
    if (i > 0) max_slope = std::max(max_slope, std::abs(y[i] - y[i - 1]) / (xs[i] - xs[i - 1]));
  }
  CHECK(max_slope < 1.0);
  CHECK(max_slope > 0.9);
  // gradients through x and beta, of the value and of the forward-mode derivative
  auto r = ag::gradcheck([](const std::vector<Var>& v) { return lipswish(v[0], v[1]); },
                         {randn({3, 4}, DType::F64), full({1}, 0.3, DType::F64)});
  CHECK_MESSAGE(r.ok, r.message);
  auto rj = ag::gradcheck([](const std::vector<Var>& v) { return lipswish_jvp(v[0], v[1], v[2]).second; },
                          {randn({3, 4}, DType::F64), randn({3, 4}, DType::F64), full({1}, -0.2, DType::F64)});
  CHECK_MESSAGE(rj.ok, rj.message);
}

TEST_CASE("LipschitzNet's forward-mode derivative equals the Jacobian from vector-Jacobian products") {
  manual_seed(2);
  auto net = small_conv_net();
  Tensor x = randn({3, 2, 2, 2}, DType::F64), v = randn({3, 2, 2, 2}, DType::F64);
  auto [g, jv] = net->forward_jvp(Var(x), Var(v));
  CHECK(max_abs_diff(g.value(), net->forward(Var(x)).value()) < 1e-14);
  // J v by rows: (J v)_d = <row d, v> = <J^T e_d, v>
  Var xs(x, true);
  Var gx = net->forward(xs);
  const auto want = jv.value().to_vector<double>();
  for (int64_t d = 0; d < 8; ++d) {
    std::vector<double> e(24, 0.0);
    for (int i = 0; i < 3; ++i) e[static_cast<size_t>(i * 8 + d)] = 1.0;
    Tensor row = ag::grad({gx}, {xs}, {from_vector(e, {3, 2, 2, 2})}, true)[0];
    auto rv = sum(row * v, {1, 2, 3}).to_vector<double>();
    for (int i = 0; i < 3; ++i) CHECK(want[static_cast<size_t>(i * 8 + d)] == doctest::Approx(rv[static_cast<size_t>(i)]).epsilon(1e-12));
  }
}

TEST_CASE("roulette coefficients: 1 / P(N >= k - E) after E exact terms; eval keeps 20 exact") {
  CHECK(roulette_survival(Series::Poisson, 2.0, 1) == doctest::Approx(1 - std::exp(-2.0)).epsilon(1e-14));
  CHECK(1 / roulette_survival(Series::Poisson, 2.0, 3) == doctest::Approx(3.0929).epsilon(1e-4));  // the spec's table
  CHECK(roulette_survival(Series::Geometric, 0.5, 4) == doctest::Approx(0.125).epsilon(1e-15));
  LogDetOptions o;
  Generator g(3);
  for (int i = 0; i < 20; ++i) {
    auto c = series_coefficients(o, false, &g);
    REQUIRE(c.size() >= 2);
    CHECK(c[0] == 1.0);
    CHECK(c[1] == 1.0);
    if (c.size() > 2) CHECK(c[2] == doctest::Approx(1 / roulette_survival(Series::Poisson, 2.0, 1)).epsilon(1e-14));
    CHECK(series_coefficients(o, true, &g).size() >= 20);
  }
}

TEST_CASE("log-det estimators against the exact log-det: unbiased within 3 standard errors, truncation converges") {
  manual_seed(4);
  SpectralNormOptions sn;
  sn.coeff = 0.95;
  sn.tol = 1e-9;
  auto net = lipschitz_mlp(3, 12, 1, /*preact=*/false, sn);
  net->to(DType::F64);
  scale_weights(*net, 4.0);
  net->weights_changed();
  Tensor x = randn({1, 3}, DType::F64) * 3.0;
  const double exact = logdet_exact(*net, x).item();
  CHECK(std::abs(exact) > 0.05);  // a non-trivial Jacobian
  auto mean_se = [&](const LogDetOptions& o, int draws) {
    Generator g(7);
    double s = 0, ss = 0;
    for (int i = 0; i < draws; ++i) {
      Tensor v = randn(x.shape(), DType::F64, Device::cpu(), &g), gx;
      const double e = logdet_series(*net, x, v, series_coefficients(o, false, &g), gx).item();
      s += e;
      ss += e * e;
    }
    const double m = s / draws;
    return std::pair{m, std::sqrt((ss / draws - m * m) / draws)};
  };
  for (Series kind : {Series::Poisson, Series::Geometric}) {
    LogDetOptions o;
    o.series = kind;
    auto [m, se] = mean_se(o, 3000);
    INFO(series_name(kind), ": mean ", m, " +- ", se, ", exact ", exact);
    CHECK(std::abs(m - exact) < 3 * se);
  }
  // truncation: with exact traces (every basis vector as the probe), the error of n terms shrinks
  // as n grows
  double prev = INFINITY;
  for (int n : {1, 2, 4, 8, 16}) {
    double trunc = 0;
    for (int64_t d = 0; d < 3; ++d) {
      std::vector<double> e(3, 0.0);
      e[static_cast<size_t>(d)] = 1.0;
      Tensor gx;
      trunc += logdet_series(*net, x, from_vector(e, {1, 3}), std::vector<double>(static_cast<size_t>(n), 1.0), gx).item();
    }
    const double err = std::abs(trunc - exact);
    INFO(n, " terms: error ", err);
    CHECK(err < prev);
    prev = err;
  }
  CHECK(prev < 1e-4 * std::max(1.0, std::abs(exact)));
}

TEST_CASE("the Neumann gradient equals autodiff through the exact log-det (f64, exact traces)") {
  manual_seed(5);
  auto net = small_conv_net(0.7);
  Tensor x0 = randn({2, 2, 2, 2}, DType::F64);
  // exact: log|det(I + J)| from the whole Jacobian (forward-mode columns), differentiated
  net->zero_grad();
  Var x1(x0, true), g1;
  ag::sum(logdet_exact_var(*net, x1, g1)).backward();
  std::vector<Tensor> want{x1.grad()};
  for (auto& p : net->parameters()) want.push_back(p.grad());
  // Neumann: the estimator with every basis vector as the probe (exact traces), 80 unit terms
  net->zero_grad();
  Var x2(x0, true);
  Var total(zeros({2}, DType::F64));
  double value = 0;
  for (int64_t d = 0; d < 8; ++d) {
    std::vector<double> e(16, 0.0);
    for (int i = 0; i < 2; ++i) e[static_cast<size_t>(i * 8 + d)] = 1.0;
    Var g2;
    Var est = logdet_estimate(*net, x2, from_vector(e, x0.shape()), std::vector<double>(80, 1.0), g2);
    total = total + est;
  }
  value = sum(total.value()).item();
  ag::sum(total).backward();
  CHECK(value == doctest::Approx(sum(logdet_exact(*net, x0)).item()).epsilon(1e-9));
  std::vector<Tensor> got{x2.grad()};
  for (auto& p : net->parameters()) got.push_back(p.grad());
  REQUIRE(got.size() == want.size());
  int checked = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    REQUIRE(got[i].defined() == want[i].defined());  // the last bias does not change J: no gradient either way
    if (!got[i].defined()) continue;
    CHECK(max_abs_diff(got[i], want[i]) < 1e-8 * (1 + amax(abs(want[i])).item()));
    ++checked;
  }
  CHECK(checked == 9);
}

TEST_CASE("residual block: inverse round trip to 1e-5; exact log-det matches brute force; non-convergence names the block") {
  manual_seed(6);
  LogDetOptions exact;
  exact.brute_force = true;
  ResidualBlock block(small_conv_net(0.9), exact, {}, "block 7");
  block.to(DType::F64);
  Tensor z = randn({3, 2, 2, 2}, DType::F64) * 2.0;
  RoundTrip rt = round_trip(block, z);
  CHECK(rt.max_err < 1e-5);
  CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-6));
  CHECK(rt.ldj_forward == doctest::Approx(brute_force_logdet(block, slice(z, 0, 0, 1))).epsilon(1e-9));
  // f32 too
  ResidualBlock b32(small_conv_net(0.9), exact);
  b32.to(DType::F32);
  CHECK(round_trip(b32, randn({4, 2, 2, 2})).max_err < 1e-5);
  // a cap too small to converge: an error naming the block, not a wrong sample
  block.inverse_options().max_iters = 2;
  block.inverse_options().atol = block.inverse_options().rtol = 1e-14;
  Var zz(z), ldj(zeros({3}, DType::F64));
  block.forward(zz, ldj);
  CHECK_THROWS_WITH_AS(block.reverse(zz, ldj), doctest::Contains("block 7: the fixed-point inverse did not converge in 2"),
                       Error);
}

TEST_CASE("gradient check of a block with the exact log-det (f64, z and ldj)") {
  manual_seed(8);
  LogDetOptions exact;
  exact.brute_force = true;
  SpectralNormOptions o;
  o.coeff = 0.8;
  ResidualBlock block(lipschitz_mlp(2, 5, 2, true, o), exact);
  block.to(DType::F64);
  block.train();
  auto r = ag::gradcheck([&](const std::vector<Var>& v) {
    Var z = v[0], ldj(zeros({3}, DType::F64));
    block.forward(z, ldj);
    return ag::concat({ag::reshape(z, {6}), ldj}, 0);
  }, {randn({3, 2}, DType::F64)});
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE("a training step's peak memory does not grow with the series' terms (2 vs 20)") {
  auto peak = [](int terms) {
    manual_seed(9);
    ResFlowConfig cfg;
    cfg.blocks = 1;
    cfg.hidden = 16;
    cfg.fc_blocks = 0;
    cfg.logdet.series = Series::Truncated;
    cfg.logdet.terms = terms;
    auto m = create_resflow(cfg, {1, 8, 8});
    Tensor imgs = floor(rand({16, 1, 8, 8}) * 256.0).to(DType::I32);
    m->bpd(imgs);  // ActNorm's init
    counters_reset();
    const int64_t before = counters().live_bytes;
    m->bpd(imgs).backward();
    return counters().peak_bytes - before;
  };
  const int64_t p2 = peak(2), p20 = peak(20);
  MESSAGE("peak tensor memory of a step: ", p2, " bytes with 2 terms, ", p20, " with 20");
  CHECK(p20 <= p2 * 11 / 10);
}

TEST_CASE("u and v survive a checkpoint; the paper's MNIST model has 16,608,589 trained parameters") {
  manual_seed(10);
  test::TempDir t;
  SNConv2d c(2, 3, 3, 4, 4);
  nn::save_checkpoint(t.file("sn.safetensors"), c, nullptr, {});
  SNConv2d d(2, 3, 3, 4, 4);
  CHECK(max_abs_diff(d.u.value(), c.u.value()) > 0.0);
  nn::restore(nn::load_checkpoint(t.file("sn.safetensors")), d, nullptr, false);
  CHECK(max_abs_diff(d.u.value(), c.u.value()) == 0.0);
  CHECK(max_abs_diff(d.v.value(), c.v.value()) == 0.0);
  CHECK(create_resflow(ResFlowConfig::paper())->num_parameters() == 16608589);
}
