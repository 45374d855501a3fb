// 2-D flows (flowgrad/flows/toy2d.h) and toy densities (flowgrad/flows/toy_data.h): the seed's worked numbers
// (seeds/004, section 10), invertibility and log-det against the brute-force Jacobian for every
// 2-D layer, parameter gradients, the samplers and exact densities, and a short training run.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "flow_testing.h"
#include "flowgrad/flows/toy2d.h"
#include "flowgrad/flows/toy_data.h"
#include "flowgrad/nn/optim.h"

using namespace fg;
using namespace fg::flows;
using fg::flows::testing::brute_force_logdet;
using fg::flows::testing::randomize;

namespace {

// |a - b| < 5e-5: equal when rounded to 4 decimals (the seed prints 4).
bool close4(double a, double b) { return std::abs(a - b) < 5e-5; }

struct Out {
  std::vector<double> z;
  double ldj, log_p;
};

Out run_forward(Flow& f, const std::vector<double>& x) {
  ag::NoGradGuard ng;
  Var z(from_vector(x, {1, 2})), ldj(zeros({1}, DType::F64));
  f.forward(z, ldj);
  double lp = flow_log_prob(f, Var(from_vector(x, {1, 2}))).item();
  return {z.value().to_vector<double>(), ldj.item(), lp};
}

double sq_norm(const std::vector<double>& z) { return z[0] * z[0] + z[1] * z[1]; }
double log_pz(const std::vector<double>& z) { return -0.5 * sq_norm(z) - std::log(2 * M_PI); }  // d = 2

// Round trip of a batch [N, 2] and, for every row, forward ldj against the brute-force
// log|det J| and reverse ldj against minus forward's.
void check_layer(Flow& f, const Tensor& x, double tol = 1e-9) {
  int64_t n = x.size(0);
  Tensor zf, ldj_f, ldj_r, back;
  {
    ag::NoGradGuard ng;
    Var z(x), l(zeros({n}, DType::F64));
    f.forward(z, l);
    zf = z.value();
    ldj_f = l.value();
    Var l2(zeros({n}, DType::F64));
    f.reverse(z, l2);
    back = z.value();
    ldj_r = l2.value();
  }
  CHECK(max_abs_diff(back, x) < 1e-12);
  CHECK(max_abs_diff(ldj_r, neg(ldj_f)) < 1e-12);
  auto lf = ldj_f.to_vector<double>();
  for (int64_t i = 0; i < n; ++i) {
    Tensor row = slice(x, 0, i, i + 1).clone();
    double bf = brute_force_logdet([&](const Var& v) {
      Var zz = v, l(zeros({1}, DType::F64));
      f.forward(zz, l);
      return zz;
    }, row);
    INFO("row ", i);
    CHECK(lf[i] == doctest::Approx(bf).epsilon(tol).scale(1.0));
  }
}

}  // namespace

TEST_CASE("seed 004 section 10.1: linear flow z = A x + b") {
  // A = [[2, 0.5], [0.1, 1.5]], b = [0.3, -0.2], x = [0.5, -1.0]
  LinearFlow2D f(from_vector<double>({2, 0.5, 0.1, 1.5}, {2, 2}), from_vector<double>({0.3, -0.2}, {2}));
  Out o = run_forward(f, {0.5, -1.0});
  CHECK(close4(o.z[0], 0.8));
  CHECK(close4(o.z[1], -1.65));
  CHECK(std::exp(o.ldj) == doctest::Approx(2.95).epsilon(1e-12));  // det A
  CHECK(close4(o.ldj, 1.0818));                                    // log |det A|
  CHECK(close4(sq_norm(o.z), 3.3625));
  CHECK(close4(log_pz(o.z), -3.5191));
  CHECK(close4(o.log_p, -2.4373));
  CHECK(o.log_p == doctest::Approx(log_pz(o.z) + o.ldj).epsilon(1e-12));
}

TEST_CASE("seed 004 section 10.2: affine coupling with s = 0.5 x1, t = 0.2 x1") {
  // The seed's arithmetic checks out to the digits it prints: y2 = -e^0.25 + 0.1 = -1.184025,
  // |y|^2 = 0.25 + 1.401915 = 1.651915, log p_Z = -0.825958 - log(2 pi) = -2.663835,
  // log p_X = -2.663835 + 0.25 = -2.413835. No rounding quirk to reproduce.
  AffineCoupling2D f([](const Var& x1) { return std::pair{x1 * 0.5, x1 * 0.2}; }, 1);
  Out o = run_forward(f, {0.5, -1.0});
  CHECK(o.z[0] == 0.5);            // y1 = x1
  CHECK(close4(o.z[1], -1.1840));  // y2 = x2 e^{s} + t
  CHECK(close4(std::exp(o.ldj), 1.2840));
  CHECK(o.ldj == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(close4(sq_norm(o.z), 1.6519));
  CHECK(close4(log_pz(o.z), -2.6638));
  CHECK(close4(o.log_p, -2.4138));
  // section 9.5: x1 = z1, x2 = (z2 - t(x1)) e^{-s(x1)} recovers the input exactly
  ag::NoGradGuard ng;
  Var z(from_vector<double>(o.z, {1, 2})), ldj(zeros({1}, DType::F64));
  f.reverse(z, ldj);
  auto x = z.value().to_vector<double>();
  CHECK(x[0] == 0.5);
  CHECK(x[1] == doctest::Approx(-1.0).epsilon(1e-15));
  CHECK(ldj.item() == doctest::Approx(-0.25).epsilon(1e-15));
}

TEST_CASE("2-D layers: inverse and log-det against the brute-force Jacobian (f64, per example)") {
  Generator g(7);
  Tensor x = randn({6, 2}, DType::F64, Device::cpu(), &g) * 1.5;
  SUBCASE("LinearFlow2D, det > 0") {
    LinearFlow2D f(from_vector<double>({1.2, -0.4, 0.7, 0.9}, {2, 2}), from_vector<double>({-0.7, 2.0}, {2}));
    check_layer(f, x);
  }
  SUBCASE("LinearFlow2D, det < 0") {
    LinearFlow2D f(from_vector<double>({0.0, 1.5, 2.0, 0.3}, {2, 2}), from_vector<double>({0.1, 0.2}, {2}));
    check_layer(f, x);
  }
  for (int64_t k : {0, 1}) {
    SUBCASE("AffineCoupling2D, non-linear user s and t") {
      AffineCoupling2D f([](const Var& c) { return std::pair{ag::tanh(c * 1.3) * 0.8, ag::square(c) * 0.5 - c}; }, k);
      INFO("transformed ", k);
      check_layer(f, x);
    }
    SUBCASE("AffineCoupling2D, random MLP") {
      AffineCoupling2D f(coupling_mlp_2d(16), k);
      randomize(f, 0.5, 30 + k);
      f.to(DType::F64);
      INFO("transformed ", k);
      check_layer(f, x);
    }
  }
  SUBCASE("RealNVP2D, random, 6 layers") {
    RealNVP2D f(6, 16);
    randomize(f, 0.4, 41);
    f.to(DType::F64);
    check_layer(f, x);
    CHECK(f.couplings()[0]->transformed() == 1);  // alternating, x2 first (the seed's layer)
    CHECK(f.couplings()[1]->transformed() == 0);
  }
}

TEST_CASE("RealNVP2D: starts as N(0, I), parameter gradients, samples invert") {
  manual_seed(3);
  RealNVP2D f(4, 16);
  f.to(DType::F64);
  Tensor x = randn({5, 2}, DType::F64);
  {
    ag::NoGradGuard ng;
    Tensor lp = f.log_prob(Var(x)).value();
    Tensor ref = sum(fg::affine(square(x), -0.5, -0.9189385332046727), {1});
    CHECK(max_abs_diff(lp, ref) < 1e-12);  // zero-initialized last layers: identity
  }
  randomize(f, 0.3, 5);
  std::string bad = testing::check_param_grads(f, [&] { return f.nll(Var(x)); });
  CHECK_MESSAGE(bad.empty(), bad);
  Generator g(9);
  Tensor s = f.sample(7, &g);
  CHECK(s.shape() == Shape({7, 2}));
  // sample() is the reverse of forward: forward maps the samples back to the same N(0, I) draws
  Generator g2(9);
  Tensor z0 = randn({7, 2}, DType::F64, Device::cpu(), &g2);
  ag::NoGradGuard ng;
  Var z(s), l(zeros({7}, DType::F64));
  f.forward(z, l);
  CHECK(max_abs_diff(z.value(), z0) < 1e-10);
}

TEST_CASE("toy 2-D datasets: seeded samplers, supports and exact densities") {
  for (const std::string& name : toy2d_names()) {
    Toy2D d = parse_toy2d(name);
    CHECK(toy2d_name(d) == name);
    Generator g1(11), g2(11), g3(12);
    Tensor a = sample_toy2d(d, 4000, &g1), b = sample_toy2d(d, 4000, &g2), c = sample_toy2d(d, 4000, &g3);
    CHECK(a.shape() == Shape({4000, 2}));
    CHECK(max_abs_diff(a, b) == 0);  // same seed, same points
    CHECK(max_abs_diff(a, c) > 0.1);
    // the exact density is finite on every sample, and integrates to 1 over [-6, 6]^2 (midpoint rule)
    auto lp = toy2d_log_prob(d, a.to(DType::F64)).to_vector<double>();
    double mean_nll = 0;
    for (double v : lp) {
      REQUIRE(std::isfinite(v));
      mean_nll -= v / lp.size();
    }
    int m = 240;
    double h = 12.0 / m;
    std::vector<double> grid;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        grid.push_back(-6 + (j + 0.5) * h);
        grid.push_back(-6 + (i + 0.5) * h);
      }
    auto gl = toy2d_log_prob(d, from_vector(grid, {m * m, 2})).to_vector<double>();
    double mass = 0;
    for (double v : gl) mass += std::exp(v) * h * h;
    INFO(name, ": mass ", mass, ", mean NLL of samples ", mean_nll);
    CHECK(mass == doctest::Approx(1.0).epsilon(1e-3));
    double H = toy2d_entropy(d);
    if (std::isfinite(H)) CHECK(mean_nll == doctest::Approx(H).epsilon(0.03));  // Monte Carlo, 4000 points
  }
  CHECK_THROWS_AS(parse_toy2d("spirals"), Error);
  // checkerboard: the log-density is -log 32 on the filled squares and -inf on the empty ones.
  // FFJORD's columns x1 in [-4, -2) and [0, 2) fill x2 in [-4, -2) and [0, 2); the other two
  // columns fill [-2, 0) and [2, 4).
  auto cb = toy2d_log_prob(Toy2D::Checkerboard,
                           from_vector<double>({-3, 1, -3, -1, 1, 1, 1, -1, 3, 3, -1, 1, 0.5, 4.5}, {7, 2}))
                .to_vector<double>();
  CHECK(cb[0] == doctest::Approx(-std::log(32.0)));
  CHECK(std::isinf(cb[1]));
  CHECK(cb[2] == doctest::Approx(-std::log(32.0)));
  CHECK(std::isinf(cb[3]));
  CHECK(cb[4] == doctest::Approx(-std::log(32.0)));
  CHECK(std::isinf(cb[5]));
  CHECK(std::isinf(cb[6]));  // outside [-4, 4]^2
  // 8 gaussians: the centres lie on the circle of radius 2 sqrt(2)
  Generator g(5);
  auto pts = sample_toy2d(Toy2D::EightGaussians, 20000, &g, DType::F64).to_vector<double>();
  double r = 0;
  for (size_t i = 0; i < pts.size(); i += 2) r += std::hypot(pts[i], pts[i + 1]) / 20000;
  CHECK(r == doctest::Approx(2 * std::sqrt(2.0)).epsilon(0.02));  // E|x| ~ R + sigma^2 / (2R)
}

TEST_CASE("C2OT's generators (the torchcfm package's): torchdyn moons on fixed angles with one diagonal shift; "
          "8 Gaussians at radius 5 with covariance sqrt(0.1) I") {
  const auto cfm = ToyConvention::TorchCFM;
  // generate_moons(6, noise=0.2) * 3 - 1: upper arc at angles 0, pi/2, pi, then the lower one, in
  // that order; (cos, sin) and (1 - cos, 0.5 - sin) times 3 minus 1, before the shift
  const double base6[6][2] = {{2, -1}, {-1, 2}, {-4, -1}, {-1, 0.5}, {2, -2.5}, {5, 0.5}};
  // n = 5: n // 2 = 2 upper points (angles 0, pi), 3 lower
  const double base5[5][2] = {{2, -1}, {-4, -1}, {-1, 0.5}, {2, -2.5}, {5, 0.5}};
  Generator g(3);
  for (int n : {6, 5}) {
    auto m = sample_toy2d(Toy2D::Moons, n, &g, DType::F64, cfm).to_vector<double>();
    std::vector<double> shifts;
    for (int i = 0; i < n; ++i) {
      const double* b = n == 6 ? base6[i] : base5[i];
      const double sx = m[2 * i] - b[0], sy = m[2 * i + 1] - b[1];
      INFO("n ", n, " point ", i);
      CHECK(sx == doctest::Approx(sy).epsilon(1e-12));  // one uniform for both coordinates
      CHECK(sx >= 0.0);
      CHECK(sx < 0.6);  // 3 * U[0, 0.2)
      shifts.push_back(sx);
    }
    CHECK(*std::max_element(shifts.begin(), shifts.end()) - *std::min_element(shifts.begin(), shifts.end()) > 1e-3);
  }
  // 8 Gaussians: each point near one of the centres 5 (cos k pi/4, sin k pi/4), the offsets of
  // variance sqrt(0.1) = 0.3162 per coordinate (torchcfm passes sqrt(var) as the covariance), the
  // centres equally likely
  const int n = 40000;
  auto x = sample_toy2d(Toy2D::EightGaussians, n, &g, DType::F64, cfm).to_vector<double>();
  double var = 0;
  std::vector<int> count(8, 0);
  for (int i = 0; i < n; ++i) {
    const double ang = std::atan2(x[2 * i + 1], x[2 * i]);
    const int k = static_cast<int>(std::lround(ang / (M_PI / 4))) & 7;
    ++count[k];
    const double dx = x[2 * i] - 5 * std::cos(k * M_PI / 4), dy = x[2 * i + 1] - 5 * std::sin(k * M_PI / 4);
    var += (dx * dx + dy * dy) / (2.0 * n);
  }
  CHECK(var == doctest::Approx(std::sqrt(0.1)).epsilon(0.02));  // the estimate's sd: 0.7%
  for (int k = 0; k < 8; ++k) CHECK(count[k] == doctest::Approx(n / 8.0).epsilon(0.05));
}

TEST_CASE("RealNVP2D: a short Adam run on two moons lowers the test NLL") {
  // 400 steps of batch 256 (fresh samples each step), 8 couplings with 64 hidden units, lr 1e-3:
  // toy2d's defaults but 400 steps instead of 3000 (about 1 s). Reference points on this test set:
  // the initial model (N(0, I)) scores 3.91 nats, the best single Gaussian (the test set's own
  // mean and covariance, `gauss` below) 3.29, the true density 2.40. Measured after 400 steps: 2.513
  // with this seed; toy2d --steps 400 gives 2.48-2.52 over seeds 0-4 (its 3000-step default
  // reaches ~2.41). The threshold 2.65 leaves ~0.13 nats of margin for other seeds, thread
  // counts and platforms while still requiring a fit far better than the Gaussian's.
  manual_seed(0);
  RealNVP2D model(8, 64);
  nn::Adam opt(model.parameters(), 1e-3);
  Generator data(0), test_gen(1234);
  Tensor test = sample_toy2d(Toy2D::Moons, 4000, &test_gen);
  double start = model.mean_nll(test);
  // NLL of the Gaussian fitted to the test set itself: 1/2 log det(2 pi e Sigma)
  auto tv = test.to_vector<double>();
  double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0, n = 4000;
  for (size_t i = 0; i < tv.size(); i += 2) mx += tv[i] / n, my += tv[i + 1] / n;
  for (size_t i = 0; i < tv.size(); i += 2) {
    double dx = tv[i] - mx, dy = tv[i + 1] - my;
    sxx += dx * dx / n, syy += dy * dy / n, sxy += dx * dy / n;
  }
  double gauss = 0.5 * std::log(std::pow(2 * M_PI * std::exp(1.0), 2) * (sxx * syy - sxy * sxy));
  double truth = 0;
  for (double v : toy2d_log_prob(Toy2D::Moons, test).to_vector<double>()) truth -= v / n;
  auto t0 = std::chrono::steady_clock::now();
  for (int step = 0; step < 400; ++step) {
    Tensor x = sample_toy2d(Toy2D::Moons, 256, &data);
    Var loss = model.nll(Var(x));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double end = model.mean_nll(test);
  MESSAGE("two moons: test NLL ", start, " -> ", end, " nats in ", secs, " s (Gaussian fit ", gauss, ", true density ",
          truth, ")");
  CHECK(start > 3.5);
  CHECK(end < 2.65);
  CHECK(end < gauss - 0.2);
  CHECK(end > truth - 0.05);  // no model beats the true density by more than sampling noise
}
