#include "flowgrad/flows/toy_data.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "flowgrad/tensor/error.h"

namespace fg::flows {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kMoonNoise = 0.1;                        // make_moons(noise=0.1)
constexpr double kMoonScale = 2.0, kMoonDx = -1.0, kMoonDy = -0.2;  // FFJORD: x * 2 + (-1, -0.2)
const double kGaussRadius = 4.0 / std::sqrt(2.0), kGaussStd = 0.5 / std::sqrt(2.0);

// Centre k of the 8 Gaussians, FFJORD's order: (1,0), (-1,0), (0,1), (0,-1), then the diagonals.
void gauss_centre(int k, double& cx, double& cy) {
  static const double s = 1.0 / std::sqrt(2.0);
  static const double c[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {s, s}, {s, -s}, {-s, s}, {-s, -s}};
  cx = kGaussRadius * c[k][0];
  cy = kGaussRadius * c[k][1];
}

// The noise-free moon point at angle theta (before the affine map).
void moon_point(int moon, double theta, double& x, double& y) {
  if (moon == 0) {
    x = std::cos(theta);
    y = std::sin(theta);
  } else {
    x = 1.0 - std::cos(theta);
    y = 0.5 - std::sin(theta);
  }
}

double logsumexp(const std::vector<double>& v) {
  double m = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double a : v) s += std::exp(a - m);
  return m + std::log(s);
}

// torchcfm's generators and densities (see toy_data.h)
constexpr double kCfmScale = 5.0, kCfmMoonShift = 0.2 * 3.0;
const double kCfmGaussStd = std::pow(0.1, 0.25);  // covariance sqrt(0.1) I

Tensor sample_cfm(Toy2D d, int64_t n, Generator* g) {
  std::vector<double> out(2 * n);
  switch (d) {
    case Toy2D::Moons: {
      auto u = rand({n}, DType::F64, Device::cpu(), g).to_vector<double>();
      const int64_t n_out = n / 2, n_in = n - n_out;
      for (int64_t i = 0; i < n; ++i) {
        const bool outer = i < n_out;
        const int64_t k = outer ? i : i - n_out, m = outer ? n_out : n_in;
        const double theta = m > 1 ? kPi * static_cast<double>(k) / static_cast<double>(m - 1) : 0.0;
        double x, y;
        moon_point(outer ? 0 : 1, theta, x, y);
        const double s = 0.2 * u[i];
        out[2 * i] = 3.0 * (x + s) - 1.0;
        out[2 * i + 1] = 3.0 * (y + s) - 1.0;
      }
      break;
    }
    case Toy2D::EightGaussians: {
      auto e = randn({n, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
      auto u = rand({n}, DType::F64, Device::cpu(), g).to_vector<double>();
      static const double s2 = 1.0 / std::sqrt(2.0);
      static const double c[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {s2, s2}, {s2, -s2}, {-s2, s2}, {-s2, -s2}};
      for (int64_t i = 0; i < n; ++i) {
        int k = std::min(7, static_cast<int>(u[i] * 8));
        out[2 * i] = kCfmScale * c[k][0] + kCfmGaussStd * e[2 * i];
        out[2 * i + 1] = kCfmScale * c[k][1] + kCfmGaussStd * e[2 * i + 1];
      }
      break;
    }
    case Toy2D::Checkerboard: return Tensor();  // the FFJORD one
  }
  return from_vector(out, {n, 2});
}

// log-density of torchcfm's moons at (px, py): for each arc, the angles where the point lies on
// the shift line through 3 arc(theta) - 1 (closed form), each with density 1 / (2 pi |det J|),
// J = d(point) / d(theta, v) = [3 arc'(theta), 0.6 (1, 1)].
double cfm_moons_log_prob(double px, double py) {
  double p = 0;
  for (int moon = 0; moon < 2; ++moon) {
    // h(theta) = arc_x - arc_y = sqrt2 cos(theta + pi/4) (upper), 0.5 - sqrt2 cos(theta + pi/4) (lower)
    const double c = (px - py) / 3.0;
    const double cosarg = (moon == 0 ? c : 0.5 - c) / std::sqrt(2.0);
    if (cosarg < -1 || cosarg > 1) continue;
    const double a = std::acos(cosarg);
    for (double theta : {a - kPi / 4, -a - kPi / 4 + 2 * kPi}) {
      // the sampler's end angles are exactly 0 and pi: allow the rounding of acos around them
      if (theta < -1e-9 || theta > kPi + 1e-9) continue;
      theta = std::min(kPi, std::max(0.0, theta));
      double x, y;
      moon_point(moon, theta, x, y);
      const double v = (px + 1.0 - 3.0 * x) / kCfmMoonShift;
      if (v < -1e-9 || v >= 1 + 1e-9) continue;
      const double dxt = moon == 0 ? -std::sin(theta) : std::sin(theta);
      const double dyt = moon == 0 ? std::cos(theta) : -std::cos(theta);
      const double det = std::abs(3.0 * kCfmMoonShift * (dxt - dyt));
      p += 1.0 / (2.0 * kPi * det);
    }
  }
  return p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity();
}

}  // namespace

ToyConvention parse_toy_convention(const std::string& s) {
  if (s == "ffjord") return ToyConvention::FFJORD;
  if (s == "torchcfm") return ToyConvention::TorchCFM;
  fail(fmt::format("unknown 2-D data convention '{}' (expected ffjord or torchcfm)", s));
}

const char* toy_convention_name(ToyConvention c) { return c == ToyConvention::FFJORD ? "ffjord" : "torchcfm"; }

std::vector<std::string> toy2d_names() { return {"moons", "8gaussians", "checkerboard"}; }

Toy2D parse_toy2d(const std::string& name) {
  if (name == "moons") return Toy2D::Moons;
  if (name == "8gaussians") return Toy2D::EightGaussians;
  if (name == "checkerboard") return Toy2D::Checkerboard;
  fail(fmt::format("unknown 2-D dataset '{}' (expected moons, 8gaussians or checkerboard)", name));
}

std::string toy2d_name(Toy2D d) {
  switch (d) {
    case Toy2D::Moons: return "moons";
    case Toy2D::EightGaussians: return "8gaussians";
    case Toy2D::Checkerboard: return "checkerboard";
  }
  return "?";
}

Tensor sample_toy2d(Toy2D d, int64_t n, Generator* g, DType dtype, ToyConvention c) {
  FG_CHECK(n >= 0, "sample_toy2d: negative count {}", n);
  if (c == ToyConvention::TorchCFM && d != Toy2D::Checkerboard) return sample_cfm(d, n, g).to(dtype);
  // Three uniforms and two normals per point, drawn in bulk (two generator calls fix the stream).
  auto u = rand({n, 3}, DType::F64, Device::cpu(), g).to_vector<double>();
  auto e = randn({n, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
  std::vector<double> out(2 * n);
  for (int64_t i = 0; i < n; ++i) {
    double u0 = u[3 * i], u1 = u[3 * i + 1], u2 = u[3 * i + 2], x = 0, y = 0;
    switch (d) {
      case Toy2D::Moons: {
        int moon = u0 < 0.5 ? 0 : 1;
        moon_point(moon, kPi * u1, x, y);
        x = kMoonScale * (x + kMoonNoise * e[2 * i]) + kMoonDx;
        y = kMoonScale * (y + kMoonNoise * e[2 * i + 1]) + kMoonDy;
        break;
      }
      case Toy2D::EightGaussians: {
        int k = std::min(7, static_cast<int>(u0 * 8));
        gauss_centre(k, x, y);
        x += kGaussStd * e[2 * i];
        y += kGaussStd * e[2 * i + 1];
        break;
      }
      case Toy2D::Checkerboard: {
        // FFJORD: x1 = 4u - 2; x2 = u' - 2k + (floor(x1) mod 2) with Python's non-negative mod.
        int k = u2 < 0.5 ? 0 : 1;
        double x1 = 4.0 * u0 - 2.0;
        double col = std::floor(x1);
        double m = col - 2.0 * std::floor(col / 2.0);  // 0 or 1
        x = 2.0 * x1;
        y = 2.0 * (u1 - 2.0 * k + m);
        break;
      }
    }
    out[2 * i] = x;
    out[2 * i + 1] = y;
  }
  return from_vector(out, {n, 2}).to(dtype);
}

Tensor toy2d_log_prob(Toy2D d, const Tensor& x, ToyConvention c) {
  FG_CHECK(x.dim() == 2 && x.size(1) == 2, "toy2d_log_prob: expected [N, 2], got {}", shape_str(x.shape()));
  int64_t n = x.size(0);
  auto xv = x.to_vector<double>();
  std::vector<double> lp(n);
  const double ninf = -std::numeric_limits<double>::infinity();
  if (c == ToyConvention::TorchCFM && d == Toy2D::Moons) {
    for (int64_t i = 0; i < n; ++i) lp[i] = cfm_moons_log_prob(xv[2 * i], xv[2 * i + 1]);
    return from_vector(lp, {n});
  }
  if (c == ToyConvention::TorchCFM && d == Toy2D::EightGaussians) {
    static const double s2 = 1.0 / std::sqrt(2.0);
    static const double cc[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {s2, s2}, {s2, -s2}, {-s2, s2}, {-s2, -s2}};
    const double var = kCfmGaussStd * kCfmGaussStd, log_norm = -std::log(2 * kPi * var) - std::log(8.0);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> t(8);
      for (int k = 0; k < 8; ++k) {
        double dx = xv[2 * i] - kCfmScale * cc[k][0], dy = xv[2 * i + 1] - kCfmScale * cc[k][1];
        t[k] = log_norm - 0.5 * (dx * dx + dy * dy) / var;
      }
      lp[i] = logsumexp(t);
    }
    return from_vector(lp, {n});
  }
  switch (d) {
    case Toy2D::Moons: {
      // p(x) = 1/2 sum_moon 1/pi int_0^pi N(x; A m(theta), (2 * 0.1)^2 I) dtheta, A the affine map.
      constexpr int kAngles = 2001;
      const double sd = kMoonScale * kMoonNoise;
      const double log_norm = -std::log(2 * kPi * sd * sd);
      std::vector<double> mx(2 * kAngles), my(2 * kAngles), lw(2 * kAngles);
      const double h = kPi / (kAngles - 1);
      for (int moon = 0; moon < 2; ++moon)
        for (int a = 0; a < kAngles; ++a) {
          double px, py;
          moon_point(moon, a * h, px, py);
          int j = moon * kAngles + a;
          mx[j] = kMoonScale * px + kMoonDx;
          my[j] = kMoonScale * py + kMoonDy;
          double w = (a == 0 || a == kAngles - 1 ? 0.5 : 1.0) * h / kPi;  // trapezoid weights / pi
          lw[j] = std::log(0.5 * w) + log_norm;
        }
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> t(2 * kAngles);
        for (int j = 0; j < 2 * kAngles; ++j) {
          double dx = xv[2 * i] - mx[j], dy = xv[2 * i + 1] - my[j];
          t[j] = lw[j] - 0.5 * (dx * dx + dy * dy) / (sd * sd);
        }
        lp[i] = logsumexp(t);
      }
      break;
    }
    case Toy2D::EightGaussians: {
      const double log_norm = -std::log(2 * kPi * kGaussStd * kGaussStd) - std::log(8.0);
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> t(8);
        for (int k = 0; k < 8; ++k) {
          double cx, cy;
          gauss_centre(k, cx, cy);
          double dx = xv[2 * i] - cx, dy = xv[2 * i + 1] - cy;
          t[k] = log_norm - 0.5 * (dx * dx + dy * dy) / (kGaussStd * kGaussStd);
        }
        lp[i] = logsumexp(t);
      }
      break;
    }
    case Toy2D::Checkerboard: {
      for (int64_t i = 0; i < n; ++i) {
        double a = xv[2 * i], b = xv[2 * i + 1];
        bool inside = a >= -4 && a < 4 && b >= -4 && b < 4;
        // squares of side 2: column floor(a/2), row floor(b/2); filled where their sum is even
        // (column -2 holds rows [-4,-2) and [0,2), matching FFJORD's construction).
        long col = static_cast<long>(std::floor(a / 2)), row = static_cast<long>(std::floor(b / 2));
        bool on = ((col + row) % 2 + 2) % 2 == 0;
        lp[i] = inside && on ? -std::log(32.0) : ninf;
      }
      break;
    }
  }
  return from_vector(lp, {n});
}

double toy2d_entropy(Toy2D d, ToyConvention c) {
  if (c == ToyConvention::TorchCFM) {
    if (d == Toy2D::EightGaussians)  // components 8.9 std apart: the overlap is negligible
      return std::log(8.0) + std::log(2 * kPi * std::exp(1.0) * kCfmGaussStd * kCfmGaussStd);
    if (d == Toy2D::Moons) return std::numeric_limits<double>::quiet_NaN();
  }
  switch (d) {
    case Toy2D::Checkerboard: return std::log(32.0);
    case Toy2D::EightGaussians: return std::log(8.0) + std::log(2 * kPi * std::exp(1.0) * kGaussStd * kGaussStd);
    case Toy2D::Moons: return std::numeric_limits<double>::quiet_NaN();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace fg::flows
