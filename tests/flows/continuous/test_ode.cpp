// ODE solvers against closed forms: the observed order of convergence of the fixed-step methods
// (Euler 1, midpoint 2, RK4 4), dopri5 within its tolerance with its NFE counted, and integration
// backward in time.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/flows/continuous/ode.h"

using namespace fg;
using namespace fg::flows;

namespace {
// y' = -y on [0, 1], y(0) = 1 (f64, a batch of 3 identical problems)
double decay_error(ode::Method m, int64_t steps, int64_t* nfe = nullptr) {
  ode::Options o;
  o.method = m;
  o.steps = steps;
  ode::Result r = ode::solve([](double, const Tensor& y) { return -y; }, ones({3}, DType::F64), 0.0, 1.0, o);
  if (nfe) *nfe = r.nfe;
  return std::abs(r.y[0].to_vector<double>()[0] - std::exp(-1.0));
}

// x'' = -x as (x, v): (cos t, -sin t) from (1, 0)
ode::Field oscillator() {
  return [](double, const ode::State& y) { return ode::State{y[1], -y[0]}; };
}
}  // namespace

TEST_CASE("fixed-step methods converge at their order on exponential decay") {
  const std::pair<ode::Method, double> methods[] = {
      {ode::Method::Euler, 1}, {ode::Method::Midpoint, 2}, {ode::Method::RK4, 4}};
  for (auto [m, order] : methods) {
    double e1 = decay_error(m, 20), e2 = decay_error(m, 40), e3 = decay_error(m, 80);
    double p1 = std::log2(e1 / e2), p2 = std::log2(e2 / e3);
    INFO(ode::method_name(m), ": errors ", e1, " ", e2, " ", e3, ", observed orders ", p1, " ", p2);
    CHECK(std::abs(p2 - order) < 0.1);
    CHECK(std::abs(p1 - order) < 0.2);
  }
  int64_t nfe = 0;
  decay_error(ode::Method::RK4, 10, &nfe);
  CHECK(nfe == 40);
  decay_error(ode::Method::Midpoint, 10, &nfe);
  CHECK(nfe == 20);
  decay_error(ode::Method::Euler, 10, &nfe);
  CHECK(nfe == 10);
}

TEST_CASE("RK4's order holds on the harmonic oscillator over one period") {
  auto err = [](int64_t steps) {
    ode::Options o;
    o.method = ode::Method::RK4;
    o.steps = steps;
    ode::Result r = ode::solve(oscillator(), {ones({1}, DType::F64), zeros({1}, DType::F64)}, 0.0, 2 * M_PI, o);
    return std::hypot(r.y[0].item() - 1.0, r.y[1].item());
  };
  double p = std::log2(err(40) / err(80));
  INFO("observed order ", p);
  CHECK(std::abs(p - 4) < 0.15);
}

TEST_CASE("dopri5 meets its tolerance, counts its evaluations, and integrates backward") {
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    ode::Options o;
    o.atol = o.rtol = tol;
    ode::Result r = ode::solve(oscillator(), {ones({2}, DType::F64), zeros({2}, DType::F64)}, 0.0, 2 * M_PI, o);
    double e = std::hypot(r.y[0].to_vector<double>()[0] - 1.0, r.y[1].to_vector<double>()[0]);
    INFO("tol ", tol, ": error ", e, ", NFE ", r.nfe, ", steps ", r.steps, " (", r.rejected, " rejected)");
    CHECK(e < 50 * tol);  // the global error of a local-error control: a few tens of tol over a period
    CHECK(r.nfe == 2 + 6 * (r.steps + r.rejected));  // k1, the first-step probe, 6 stages a step (FSAL)
  }
  // tighter tolerance, more work
  ode::Options loose, tight;
  loose.atol = loose.rtol = 1e-3;
  tight.atol = tight.rtol = 1e-9;
  auto f = [](double, const Tensor& y) { return -y; };
  CHECK(ode::solve(f, ones({1}, DType::F64), 0, 1, tight).nfe > 3 * ode::solve(f, ones({1}, DType::F64), 0, 1, loose).nfe);
  // backward: from y(1) = e^-1 to y(0) = 1
  ode::Result back = ode::solve(f, full({1}, std::exp(-1.0), DType::F64), 1.0, 0.0, tight);
  CHECK(std::abs(back.y[0].item() - 1.0) < 1e-7);
  ode::Options rk;
  rk.method = ode::Method::RK4;
  rk.steps = 50;
  CHECK(std::abs(ode::solve(f, full({1}, std::exp(-1.0), DType::F64), 1.0, 0.0, rk).y[0].item() - 1.0) < 1e-8);
}

TEST_CASE("dopri5's first step: Hairer's rule with torchdiffeq's exponent 1/5 or torchdyn's 1/6") {
  // dy/dt = -y, y0 = 1, atol = rtol = 1e-4 by hand: scale = 2e-4, d0 = d1 = 5000, h0 = 0.01,
  // f(h0) = -0.99, d2 = 0.01 / 2e-4 / 0.01 = 5000, h1 = (0.01 / 5000)^(1 / (order + 1)),
  // h = min(100 h0, h1). The first step's second stage runs at t = h / 5.
  for (int order : {4, 5}) {
    std::vector<double> times;
    auto f = [&](double t, const Tensor& y) {
      times.push_back(t);
      return -y;
    };
    ode::Options o;
    o.atol = o.rtol = 1e-4;
    o.first_step_order = order;
    ode::solve(f, ones({1}, DType::F64), 0.0, 1.0, o);
    REQUIRE(times.size() > 3);
    CHECK(times[1] == doctest::Approx(0.01));
    INFO("order ", order);
    CHECK(5 * times[2] == doctest::Approx(std::pow(2e-6, 1.0 / (order + 1))).epsilon(1e-12));
  }
}

TEST_CASE("ODE options are checked") {
  CHECK_THROWS_WITH_AS(ode::parse_method("rk45"), doctest::Contains("euler, midpoint, rk4 or dopri5"), Error);
  ode::Options o;
  o.method = ode::Method::Euler;
  o.steps = 0;
  CHECK_THROWS_WITH_AS(ode::solve([](double, const Tensor& y) { return y; }, ones({1}), 0, 1, o),
                       doctest::Contains("at least one step"), Error);
}
