// torchcfm's runner datasets (flowgrad/flows/runner_data.h) against moments computed by hand from
// their definitions: sklearn's moons (Gaussian noise 0.05 per coordinate, * 2, x - 1), its S curve
// (noise 0.05, * 1.5), torchdyn's 8 Gaussians (radius 5, std 1, cluster k at 2 pi k / 8, in order).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "flowgrad/flows/runner_data.h"

using namespace fg;
using namespace fg::flows;

namespace {
struct Moments {
  double mx = 0, my = 0, vx = 0, vy = 0;
};
Moments moments(const std::vector<double>& p) {
  Moments m;
  const double n = static_cast<double>(p.size() / 2);
  for (size_t i = 0; i < p.size(); i += 2) m.mx += p[i] / n, m.my += p[i + 1] / n;
  for (size_t i = 0; i < p.size(); i += 2)
    m.vx += (p[i] - m.mx) * (p[i] - m.mx) / n, m.vy += (p[i + 1] - m.my) * (p[i + 1] - m.my) / n;
  return m;
}
}  // namespace

TEST_CASE("runner moons: make_moons(noise=0.05) * 2 with x - 1, shuffled") {
  const int n = 12000;
  Generator g(42);
  auto p = runner_dataset(RunnerData::Moons, n, &g).to_vector<double>();
  // the noise-free points by hand: n/2 on each arc at linspace(0, pi) angles
  std::vector<double> base;
  for (int i = 0; i < n; ++i) {
    const bool upper = i < n / 2;
    const double th = std::numbers::pi * (upper ? i : i - n / 2) / (n / 2 - 1);
    base.push_back(2 * (upper ? std::cos(th) : 1 - std::cos(th)) - 1);
    base.push_back(2 * (upper ? std::sin(th) : 0.5 - std::sin(th)));
  }
  Moments want = moments(base), got = moments(p);
  CHECK(want.mx == doctest::Approx(0.0).scale(1));  // the arcs' means cancel: (0, 0.5) exactly
  CHECK(want.my == doctest::Approx(0.5));
  CHECK(got.mx == doctest::Approx(0.0).epsilon(0.03).scale(1));
  CHECK(got.my == doctest::Approx(0.5).epsilon(0.01));
  // noise N(0, 0.05^2) per coordinate before the * 2: + 0.01 to each variance
  CHECK(got.vx == doctest::Approx(want.vx + 0.01).epsilon(0.02));
  CHECK(got.vy == doctest::Approx(want.vy + 0.01).epsilon(0.02));
  // shuffled: the first half is not the upper arc
  int upper_first_half = 0;
  for (int i = 0; i < n / 2; ++i) upper_first_half += p[2 * i + 1] > 0.5 ? 1 : 0;
  CHECK(upper_first_half < 0.7 * n / 2);
  Generator g2(42);
  CHECK(max_abs_diff(runner_dataset(RunnerData::Moons, n, &g2), from_vector(p, {n, 2})) == 0);
}

TEST_CASE("runner scurve: make_s_curve(noise=0.05), columns 0 and 2, * 1.5") {
  Generator g(1);
  const int n = 40000;
  auto p = runner_dataset(RunnerData::SCurve, n, &g).to_vector<double>();
  Moments m = moments(p);
  // t ~ U(-3 pi / 2, 3 pi / 2): E sin t = 0, E sin^2 t = 1/2; E sign(t)(cos t - 1) = 0,
  // E (cos t - 1)^2 = 3/2 - 2 E cos t = 3/2 + 4 / (3 pi) (E cos t = sin(3 pi / 2) / (3 pi / 2))
  CHECK(m.mx == doctest::Approx(0.0).scale(1).epsilon(0.02));
  CHECK(m.my == doctest::Approx(0.0).scale(1).epsilon(0.03));
  CHECK(m.vx == doctest::Approx(2.25 * (0.5 + 0.0025)).epsilon(0.02));
  CHECK(m.vy == doctest::Approx(2.25 * (1.5 + 4 / (3 * std::numbers::pi) + 0.0025)).epsilon(0.02));
  for (size_t i = 0; i < p.size(); i += 2) REQUIRE(std::abs(p[i]) < 1.5 + 0.5);
}

TEST_CASE("runner 8gaussians: torchdyn's clusters at 5 (cos 2 pi k / 8, sin 2 pi k / 8), k = 1..8, std 1, in order") {
  Generator g(2);
  const int n = 16000, per = n / 8;
  auto p = runner_dataset(RunnerData::Gaussians, n, &g).to_vector<double>();
  for (int k = 0; k < 8; ++k) {
    std::vector<double> c(p.begin() + 2 * k * per, p.begin() + 2 * (k + 1) * per);
    Moments m = moments(c);
    const double ang = 2 * std::numbers::pi * (k + 1) / 8;
    INFO("cluster ", k + 1);
    CHECK(m.mx == doctest::Approx(5 * std::cos(ang)).scale(1).epsilon(0.08));
    CHECK(m.my == doctest::Approx(5 * std::sin(ang)).scale(1).epsilon(0.08));
    CHECK(m.vx == doctest::Approx(1.0).epsilon(0.1));
    CHECK(m.vy == doctest::Approx(1.0).epsilon(0.1));
  }
  CHECK_THROWS_AS(runner_dataset(RunnerData::Gaussians, 12, &g), Error);
  CHECK(parse_runner_data("scurve") == RunnerData::SCurve);
  CHECK_THROWS_WITH_AS(parse_runner_data("swiss"), doctest::Contains("moons, scurve or 8gaussians"), Error);
}
