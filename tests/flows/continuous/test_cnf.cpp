// CNF likelihoods and flow-matching objectives: the exact divergence against a brute-force
// Jacobian, Hutchinson's estimator against the exact trace, the log-likelihood of a linear field
// against the closed form of the pushed-forward Gaussian (with the log-density's error per dimension
// or in nats, and fewer evaluations per dimension on image-shaped data), ag::grad leaving parameter gradients
// alone, and the FM / I-CFM / OT-CFM targets and losses on fixed inputs against hand computation.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/flows/continuous/cnf.h"
#include "flowgrad/flows/continuous/matching.h"

using namespace fg;
using namespace fg::flows;

namespace {
// v(x, t) = x A^T + t b (a fixed linear field; no parameters)
class LinearField : public VelocityField {
 public:
  LinearField(Tensor a, Tensor b) : a_(std::move(a)), b_(std::move(b)) {}
  std::string type_name() const override { return "LinearField"; }
  Var velocity(const Var& x, const Var& t) override {
    Var tt = ag::reshape(batch_times(t, x.size(0)), {x.size(0), 1});
    return ag::matmul(x, Var(a_), false, true) + tt * Var(b_);
  }

 private:
  Tensor a_, b_;
};

// v(x, t) = a cos(w t) x on any shape: x(t) = x(1) e^{C(t) - C(1)}, C(t) = a sin(w t) / w, and
// div v = a cos(w t) D, which Hutchinson's probe gives exactly (the Jacobian is a multiple of I)
class ScalingField : public VelocityField {
 public:
  ScalingField(double a, double w) : a_(a), w_(w) {}
  std::string type_name() const override { return "ScalingField"; }
  Var velocity(const Var& x, const Var& t) override {
    const double tv = t.value().to(DType::F64).to_vector<double>()[0];
    return x * (a_ * std::cos(w_ * tv));
  }

 private:
  double a_, w_;
};

std::vector<double> matexp2(const std::vector<double>& a) {  // e^A for 2x2 by its series
  std::vector<double> r{1, 0, 0, 1}, term{1, 0, 0, 1};
  for (int k = 1; k < 40; ++k) {
    std::vector<double> t2(4, 0);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int l = 0; l < 2; ++l) t2[i * 2 + j] += term[i * 2 + l] * a[l * 2 + j] / k;
    term = t2;
    for (int i = 0; i < 4; ++i) r[i] += term[i];
  }
  return r;
}
}  // namespace

TEST_CASE("the exact divergence equals the trace of a brute-force Jacobian") {
  manual_seed(7);
  MLPVelocity v(2, 16);
  v.to(DType::F64);
  Generator g(8);
  Tensor x = randn({5, 2}, DType::F64, Device::cpu(), &g);
  const double t = 0.3, h = 1e-6;
  auto vel = [&](const Tensor& p) {
    ag::NoGradGuard ng;
    return v(Var(p), Var(scalar(t, DType::F64))).value().to_vector<double>();
  };
  std::vector<double> brute(5, 0.0);
  for (int d = 0; d < 2; ++d) {
    std::vector<double> e(10, 0.0);
    for (int n = 0; n < 5; ++n) e[n * 2 + d] = h;
    Tensor step = from_vector(e, {5, 2});
    auto vp = vel(x + step), vm = vel(x - step);
    for (int n = 0; n < 5; ++n) brute[n] += (vp[n * 2 + d] - vm[n * 2 + d]) / (2 * h);
  }
  auto exact = divergence_exact(v, x, t).to_vector<double>();
  for (int n = 0; n < 5; ++n) CHECK(exact[n] == doctest::Approx(brute[n]).epsilon(1e-6));
}

TEST_CASE("Hutchinson's estimate averages to the exact trace within 3 standard errors") {
  manual_seed(9);
  MLPVelocity v(4, 32);
  v.to(DType::F64);
  Generator g(10);
  Tensor x = randn({3, 4}, DType::F64, Device::cpu(), &g);
  // a 4-d exact trace by the same route as the 2-d one
  auto exact = divergence_exact(v, x, 0.6).to_vector<double>();
  const int probes = 3000;
  std::vector<double> sum(3, 0), sq(3, 0);
  for (int k = 0; k < probes; ++k) {
    Tensor eps = sign(rand({3, 4}, DType::F64, Device::cpu(), &g) - 0.5);
    auto est = divergence_hutchinson(v, x, 0.6, eps).to_vector<double>();
    for (int n = 0; n < 3; ++n) {
      sum[n] += est[n];
      sq[n] += est[n] * est[n];
    }
  }
  for (int n = 0; n < 3; ++n) {
    double mean = sum[n] / probes, var = sq[n] / probes - mean * mean, se = std::sqrt(var / probes);
    INFO("example ", n, ": exact ", exact[n], ", mean of ", probes, " probes ", mean, " (se ", se, ")");
    CHECK(std::abs(mean - exact[n]) < 3 * se + 1e-12);
    CHECK(se > 0);
  }
}

TEST_CASE("the CNF log-likelihood of a linear field matches the pushed-forward Gaussian") {
  // dx/dt = A x + t b: x1 = e^A x0 + c with c = integral_0^1 e^{A(1-s)} s b ds, and log p1 is
  // that of N(c, e^A e^{A^T}). The exact divergence handles any A; Hutchinson's probe gives
  // eps^T A eps, exactly tr A only for a diagonal A (its mean is tr A for any A: the test above).
  auto check = [](const std::vector<double>& a, bool exact, bool per_dim_error) {
    std::vector<double> b{0.4, -0.1};
    LinearField v(from_vector(a, {2, 2}), from_vector(b, {1, 2}));
    ode::Options tight;
    tight.atol = tight.rtol = 1e-12;
    auto cv = cnf_sample(v, zeros({1, 2}, DType::F64), tight).y[0].to_vector<double>();  // c: the image of 0
    auto m = matexp2(a);                                                                 // x1 - c = M x0
    double det = m[0] * m[3] - m[1] * m[2];
    Generator g(11);
    Tensor x1 = randn({6, 2}, DType::F64, Device::cpu(), &g) * 1.5;
    CnfOptions o;
    o.solver.atol = o.solver.rtol = 1e-10;
    o.exact = exact;
    o.probe_gen = &g;
    o.per_dim_error = per_dim_error;
    CnfResult r = cnf_log_prob(v, x1, o);
    auto lp = r.log_prob.to_vector<double>();
    auto xv = x1.to_vector<double>();
    for (int n = 0; n < 6; ++n) {
      // x0 = M^{-1} (x1 - c); log p1 = log N(x0) - log|det M|
      double y0 = xv[2 * n] - cv[0], y1 = xv[2 * n + 1] - cv[1];
      double z0 = (m[3] * y0 - m[1] * y1) / det, z1 = (-m[2] * y0 + m[0] * y1) / det;
      double want = -0.5 * (z0 * z0 + z1 * z1) - std::log(2 * M_PI) - std::log(std::abs(det));
      INFO(std::string(exact ? "exact" : "hutchinson"), per_dim_error ? " per dim" : " in nats", " example ", n);
      CHECK(lp[n] == doctest::Approx(want).epsilon(1e-7));
    }
    CHECK(r.nfe > 0);
  };
  for (bool per_dim : {true, false}) {  // the accumulator per dimension or in nats: the same log-density
    check({0.3, -0.8, 0.5, -0.2}, true, per_dim);
    check({0.3, 0.0, 0.0, -0.7}, false, per_dim);
  }
}

TEST_CASE("the log-density's error per dimension: the same likelihood of image-shaped data, fewer evaluations") {
  // D = 36 dims per example, absolute tolerance only: held to atol in nats, the accumulator (a sum
  // over 36 dims) sets the steps; per dimension it weighs like one entry of x
  ScalingField v(1.5, 3.0);
  Generator g(13);
  Tensor x1 = randn({4, 1, 6, 6}, DType::F64, Device::cpu(), &g);
  const double c1 = 1.5 * std::sin(3.0) / 3.0, d = 36;
  Tensor want = std_normal_log_density(x1 * std::exp(-c1)) - d * c1;
  int64_t nfe[2] = {0, 0};
  for (bool per_dim : {true, false}) {
    CnfOptions o;
    o.solver.atol = 1e-7;
    o.solver.rtol = 0;
    o.exact = false;
    o.probe_gen = &g;
    o.per_dim_error = per_dim;
    CnfResult r = cnf_log_prob(v, x1, o);
    INFO("per_dim_error ", per_dim);
    CHECK(max_abs_diff(r.log_prob, want) < 1e-5);  // nats, on log-densities of about -60
    nfe[per_dim ? 0 : 1] = r.nfe;
  }
  CHECK(nfe[0] < nfe[1]);
}

TEST_CASE("ag::grad gives the vector-Jacobian product and leaves parameter gradients alone") {
  manual_seed(12);
  MLPVelocity v(2, 8);
  v.to(DType::F64);
  Tensor x = from_vector<double>({0.5, -1.0, 2.0, 0.1}, {2, 2});
  Var xv(x, true);
  Var out = v(xv, Var(scalar(0.5, DType::F64)));
  Tensor gout = from_vector<double>({1, 0, 0, 1}, {2, 2});
  Tensor vjp = ag::grad({out}, {xv}, {gout})[0];
  CHECK(vjp.shape() == Shape{2, 2});
  for (auto& p : v.parameters()) CHECK_FALSE(p.grad().defined());
  CHECK_FALSE(xv.grad().defined());
  // the same product by backward() lands in xv.grad
  Var out2 = v(xv, Var(scalar(0.5, DType::F64)));
  out2.backward(gout);
  CHECK(max_abs_diff(xv.grad(), vjp) < 1e-14);
}

TEST_CASE("flow-matching paths and losses on fixed inputs, by hand") {
  Tensor x0 = from_vector<double>({0.0, 1.0, 2.0, -1.0}, {2, 2});
  Tensor x1 = from_vector<double>({4.0, 0.0, 1.0, 3.0}, {2, 2});
  Tensor t = from_vector<double>({0.25, 0.5}, {2});
  Tensor eps = from_vector<double>({1.0, -1.0, 0.5, 2.0}, {2, 2});
  const double sigma = 0.1;
  // I-CFM: x_t = t x1 + (1 - t) x0 + sigma eps, u_t = x1 - x0
  PathSample ic = sample_path(Matcher::ICFM, x0, x1, t, eps, sigma);
  CHECK(ic.xt.to_vector<double>() == std::vector<double>{0.25 * 4 + 0.75 * 0 + 0.1, 0.75 * 1 - 0.1,
                                                         0.5 * 1 + 0.5 * 2 + 0.05, 0.5 * 3 - 0.5 + 0.2});
  CHECK(ic.ut.to_vector<double>() == std::vector<double>{4, -1, -1, 4});
  // FM (Lipman): x_t = t x1 + (1 - 0.9 t) x0, u_t = (x1 - 0.9 x_t) / (1 - 0.9 t)
  PathSample fm = sample_path(Matcher::FM, x0, x1, t, eps, sigma);
  auto fx = fm.xt.to_vector<double>(), fu = fm.ut.to_vector<double>();
  double xt0 = 0.25 * 4 + (1 - 0.9 * 0.25) * 0, xt3 = 0.5 * 3 + (1 - 0.45) * -1;
  CHECK(fx[0] == doctest::Approx(xt0));
  CHECK(fx[3] == doctest::Approx(xt3));
  CHECK(fu[0] == doctest::Approx((4 - 0.9 * xt0) / (1 - 0.225)));
  CHECK(fu[3] == doctest::Approx((3 - 0.9 * xt3) / (1 - 0.45)));
  // OT-CFM: the batch's far pairing is undone before the I-CFM path
  Tensor a = from_vector<double>({0, 0, 10, 10}, {2, 2}), b = from_vector<double>({10, 10, 0, 0}, {2, 2});
  PathSample ot = sample_path(Matcher::OTCFM, a, b, t, zeros({2, 2}, DType::F64), 0.0);
  CHECK(ot.ut.to_vector<double>() == std::vector<double>{0, 0, 0, 0});
  PathSample ind = sample_path(Matcher::ICFM, a, b, t, zeros({2, 2}, DType::F64), 0.0);
  CHECK(ind.ut.to_vector<double>() == std::vector<double>{10, 10, -10, -10});
  // the loss: mean over all elements of (v - u)^2, here with v(x, t) = x
  LinearField id(from_vector<double>({1, 0, 0, 1}, {2, 2}), zeros({1, 2}, DType::F64));
  double want = 0;
  auto ix = ic.xt.to_vector<double>(), iu = ic.ut.to_vector<double>();
  for (int i = 0; i < 4; ++i) want += (ix[i] - iu[i]) * (ix[i] - iu[i]) / 4;
  CHECK(matching_loss(id, ic).item() == doctest::Approx(want).epsilon(1e-14));
}
