#include "flowgrad/flows/continuous/ode.h"

#include <algorithm>
#include <cmath>

#include "flowgrad/autograd/var.h"

namespace fg::flows::ode {

namespace {

// y + sum_i c_i k_i, per tensor of the state (terms with c = 0 are skipped)
State lincomb(const State& y, std::initializer_list<std::pair<double, const State*>> terms) {
  State out = y;
  for (auto [c, k] : terms) {
    if (c == 0) continue;
    for (size_t i = 0; i < out.size(); ++i) out[i] = out[i] + (*k)[i] * c;
  }
  return out;
}

State eval(const Field& f, double t, const State& y, int64_t& nfe) {
  ++nfe;
  State k = f(t, y);
  FG_CHECK(k.size() == y.size(), "ode: the field returned {} tensors for a state of {}", k.size(), y.size());
  for (size_t i = 0; i < k.size(); ++i)
    FG_CHECK(k[i].shape() == y[i].shape(), "ode: the field's output {} does not match the state's {}",
             shape_str(k[i].shape()), shape_str(y[i].shape()));
  return k;
}

// max over tensors of the RMS of v / (atol + rtol * max(|a|, |b|)) (one host read per tensor)
double error_ratio(const State& err, const State& a, const State& b, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < err.size(); ++i) {
    Tensor scale = maximum(abs(a[i]), abs(b[i])) * rtol + atol;
    double r = std::sqrt(mean(square(err[i] / scale)).item());
    worst = std::max(worst, std::isnan(r) ? INFINITY : r);
  }
  return worst;
}

double rms_scaled(const State& v, const State& y, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    Tensor scale = abs(y[i]) * rtol + atol;
    worst = std::max(worst, std::sqrt(mean(square(v[i] / scale)).item()));
  }
  return worst;
}

Result fixed(const Field& f, const State& y0, double t0, double t1, const Options& o) {
  FG_CHECK(o.steps >= 1, "ode: {} needs at least one step, got {}", method_name(o.method), o.steps);
  Result r;
  State y = y0;
  const double h = (t1 - t0) / static_cast<double>(o.steps);
  for (int64_t s = 0; s < o.steps; ++s) {
    const double t = t0 + h * static_cast<double>(s);
    State k1 = eval(f, t, y, r.nfe);
    switch (o.method) {
      case Method::Euler: y = lincomb(y, {{h, &k1}}); break;
      case Method::Midpoint: {
        State k2 = eval(f, t + h / 2, lincomb(y, {{h / 2, &k1}}), r.nfe);
        y = lincomb(y, {{h, &k2}});
        break;
      }
      case Method::RK4: {
        State k2 = eval(f, t + h / 2, lincomb(y, {{h / 2, &k1}}), r.nfe);
        State k3 = eval(f, t + h / 2, lincomb(y, {{h / 2, &k2}}), r.nfe);
        State k4 = eval(f, t + h, lincomb(y, {{h, &k3}}), r.nfe);
        y = lincomb(y, {{h / 6, &k1}, {h / 3, &k2}, {h / 3, &k3}, {h / 6, &k4}});
        break;
      }
      case Method::Dopri5: break;
    }
    ++r.steps;
  }
  r.y = std::move(y);
  return r;
}

// Dormand-Prince 5(4): the 5th-order solution propagates (b = the last row of a), the embedded
// 4th-order one (bs) gives the error estimate; the last stage is the next step's first (FSAL).
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
constexpr double bs1 = 5179.0 / 57600, bs3 = 7571.0 / 16695, bs4 = 393.0 / 640, bs5 = -92097.0 / 339200,
                 bs6 = 187.0 / 2100, bs7 = 1.0 / 40;

Result dopri5(const Field& f, const State& y0, double t0, double t1, const Options& o) {
  FG_CHECK(o.atol > 0 && o.rtol >= 0, "ode: dopri5 needs atol > 0 and rtol >= 0, got {} and {}", o.atol, o.rtol);
  Result r;
  State y = y0;
  if (t0 == t1) {
    r.y = y;
    return r;
  }
  const double dir = t1 > t0 ? 1.0 : -1.0, span = std::abs(t1 - t0);
  State k1 = eval(f, t0, y, r.nfe);
  double h = std::abs(o.first_step);
  if (h == 0) {  // Hairer, Norsett & Wanner's initial step
    double d0 = rms_scaled(y, y, o.atol, o.rtol), d1 = rms_scaled(k1, y, o.atol, o.rtol);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    State k = eval(f, t0 + dir * h0, lincomb(y, {{dir * h0, &k1}}), r.nfe);
    State diff = lincomb(k, {{-1.0, &k1}});
    double d2 = rms_scaled(diff, y, o.atol, o.rtol) / h0;
    double h1 = std::max(d1, d2) <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / (o.first_step_order + 1));
    h = std::min(100 * h0, h1);
  }
  double t = t0;
  while (dir * (t1 - t) > 0) {
    FG_CHECK(r.steps + r.rejected < o.max_steps, "ode: dopri5 took more than {} steps (at t = {}, step {:.3g})",
             o.max_steps, t, h);
    h = std::min(h, std::abs(t1 - t));
    FG_CHECK(h > span * 1e-14, "ode: dopri5's step size underflowed at t = {}", t);
    const double s = dir * h;
    State k2 = eval(f, t + c2 * s, lincomb(y, {{s * a21, &k1}}), r.nfe);
    State k3 = eval(f, t + c3 * s, lincomb(y, {{s * a31, &k1}, {s * a32, &k2}}), r.nfe);
    State k4 = eval(f, t + c4 * s, lincomb(y, {{s * a41, &k1}, {s * a42, &k2}, {s * a43, &k3}}), r.nfe);
    State k5 = eval(f, t + c5 * s, lincomb(y, {{s * a51, &k1}, {s * a52, &k2}, {s * a53, &k3}, {s * a54, &k4}}), r.nfe);
    State k6 = eval(f, t + s,
                    lincomb(y, {{s * a61, &k1}, {s * a62, &k2}, {s * a63, &k3}, {s * a64, &k4}, {s * a65, &k5}}), r.nfe);
    State y5 = lincomb(y, {{s * b1, &k1}, {s * b3, &k3}, {s * b4, &k4}, {s * b5, &k5}, {s * b6, &k6}});
    State k7 = eval(f, t + s, y5, r.nfe);
    State err = lincomb(k1, {{-1.0, &k1}});  // zeros shaped as the state
    err = lincomb(err, {{s * (b1 - bs1), &k1}, {s * (b3 - bs3), &k3}, {s * (b4 - bs4), &k4}, {s * (b5 - bs5), &k5},
                        {s * (b6 - bs6), &k6}, {-s * bs7, &k7}});
    double ratio = error_ratio(err, y, y5, o.atol, o.rtol);
    bool accept = ratio <= 1;
    if (accept) {
      t = (std::abs(t1 - t) <= h) ? t1 : t + s;
      y = std::move(y5);
      k1 = std::move(k7);
      ++r.steps;
    } else {
      ++r.rejected;
    }
    // torchdiffeq's rule: no shrinking after an accepted step
    double factor = ratio == 0 ? 10.0 : std::min(10.0, std::max(0.9 / std::pow(ratio, 1.0 / 5), accept ? 1.0 : 0.2));
    h *= factor;
  }
  r.y = std::move(y);
  return r;
}

}  // namespace

Method parse_method(const std::string& s) {
  if (s == "euler") return Method::Euler;
  if (s == "midpoint") return Method::Midpoint;
  if (s == "rk4") return Method::RK4;
  if (s == "dopri5") return Method::Dopri5;
  fail(fmt::format("unknown ODE solver '{}' (expected euler, midpoint, rk4 or dopri5)", s));
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Euler: return "euler";
    case Method::Midpoint: return "midpoint";
    case Method::RK4: return "rk4";
    case Method::Dopri5: return "dopri5";
  }
  return "?";
}

Result solve(const Field& f, const State& y0, double t0, double t1, const Options& o) {
  FG_CHECK(!y0.empty(), "ode: empty state");
  ag::NoGradGuard ng;  // the solver's arithmetic; f enables grad itself where it needs it
  return o.method == Method::Dopri5 ? dopri5(f, y0, t0, t1, o) : fixed(f, y0, t0, t1, o);
}

Result solve(const std::function<Tensor(double, const Tensor&)>& v, const Tensor& x0, double t0, double t1,
             const Options& o) {
  return solve([&](double t, const State& y) { return State{v(t, y[0])}; }, State{x0}, t0, t1, o);
}

}  // namespace fg::flows::ode
