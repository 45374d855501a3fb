// The exact assignment solvers: against brute force over all permutations (n <= 7), LAPJV against
// the Hungarian method on larger random and geometric cases, dual certificates, W2 and W2^2, and
// the warm starts (any starting prices; OT-CFM's pairing with the previous batch's duals).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/toy_data.h"

using namespace fg;
using namespace fg::flows;

namespace {
double brute_force(const std::vector<double>& c, int n) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  double best = INFINITY;
  do {
    double s = 0;
    for (int i = 0; i < n; ++i) s += c[i * n + p[i]];
    best = std::min(best, s);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

// a permutation, dual feasible (reduced costs >= 0) and tight on the assignment
void check_certificate(const Assignment& a, const std::vector<double>& c, int n) {
  std::vector<int> seen(n, 0);
  for (int j : a.col_of_row) {
    REQUIRE(j >= 0);
    REQUIRE(j < n);
    CHECK(seen[j]++ == 0);
  }
  double worst = 0, dual = 0;
  for (int i = 0; i < n; ++i) {
    dual += a.u[i] + a.v[i];
    for (int j = 0; j < n; ++j) worst = std::min(worst, c[i * n + j] - a.u[i] - a.v[j]);
    CHECK(std::abs(c[i * n + a.col_of_row[i]] - a.u[i] - a.v[a.col_of_row[i]]) < 1e-9);
  }
  CHECK(worst > -1e-9);
  CHECK(std::abs(dual - a.cost) < 1e-9 * std::max(1.0, std::abs(a.cost)));
}
}  // namespace

TEST_CASE("LAPJV and Hungarian equal brute force over all permutations (n <= 7), ties included") {
  std::mt19937 g(3);
  for (int n = 1; n <= 7; ++n)
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> c(n * n);
      for (auto& x : c) x = trial % 4 == 0 ? static_cast<double>(g() % 3) : std::uniform_real_distribution<>(-5, 5)(g);
      double bf = brute_force(c, n);
      Assignment jv = solve_assignment(c, n), hu = solve_assignment_hungarian(c, n, n);
      INFO("n ", n, " trial ", trial);
      CHECK(jv.cost == doctest::Approx(bf).epsilon(1e-12));
      CHECK(hu.cost == doctest::Approx(bf).epsilon(1e-12));
      check_certificate(jv, c, n);
    }
}

TEST_CASE("LAPJV agrees with the Hungarian method on larger random and geometric problems") {
  std::mt19937 g(4);
  std::normal_distribution<double> nd;
  for (int n : {16, 50, 128, 300}) {
    std::vector<double> uni(n * n);
    for (auto& x : uni) x = std::uniform_real_distribution<>(0, 1)(g);
    std::vector<double> a(2 * n), b(2 * n);
    for (auto& x : a) x = nd(g);
    for (auto& x : b) x = 2 * nd(g) + 1;
    std::vector<double> geo = squared_distances(from_vector(a, {n, 2}), from_vector(b, {n, 2}));
    for (auto* c : {&uni, &geo}) {
      Assignment jv = solve_assignment(*c, n), hu = solve_assignment_hungarian(*c, n, n);
      INFO("n ", n);
      CHECK(jv.cost == doctest::Approx(hu.cost).epsilon(1e-12));
      check_certificate(jv, *c, n);
    }
  }
  // rectangular (Hungarian only)
  std::vector<double> r(3 * 5);
  for (auto& x : r) x = std::uniform_real_distribution<>(0, 1)(g);
  Assignment h = solve_assignment_hungarian(r, 3, 5);
  CHECK(h.col_of_row.size() == 3);
}

TEST_CASE("W2 of a set with itself is 0; of a shifted set, the shift; pairing undoes a shuffle") {
  Generator gen(5);
  Tensor x = randn({200, 2}, DType::F64, Device::cpu(), &gen);
  CHECK(w2_exact(x, x) < 1e-7);
  Tensor shift = from_vector<double>({3, 4}, {1, 2});
  CHECK(w2_exact(x, x + shift) == doctest::Approx(5.0).epsilon(1e-9));  // translation: W2 = |shift|
  std::vector<int32_t> perm(200);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(6));
  Tensor shuffled = gather_rows(x, from_vector(perm, {200}));
  std::vector<int> p = ot_pairing(shuffled, x);
  for (int i = 0; i < 200; ++i) CHECK(p[i] == perm[i]);
}

TEST_CASE("W2^2 (C2OT's 'W2': no square root) equals the brute-force minimum over permutations on tiny sets") {
  Generator g(7);
  for (int n = 1; n <= 7; ++n)
    for (int trial = 0; trial < 5; ++trial) {
      Tensor a = randn({n, 2}, DType::F64, Device::cpu(), &g), b = randn({n, 2}, DType::F64, Device::cpu(), &g) * 2.0;
      auto av = a.to_vector<double>(), bv = b.to_vector<double>();
      std::vector<int> p(n);
      std::iota(p.begin(), p.end(), 0);
      double best = INFINITY;
      do {  // mean squared distance of the pairing, from the coordinates
        double s = 0;
        for (int i = 0; i < n; ++i)
          s += std::pow(av[2 * i] - bv[2 * p[i]], 2) + std::pow(av[2 * i + 1] - bv[2 * p[i] + 1], 2);
        best = std::min(best, s / n);
      } while (std::next_permutation(p.begin(), p.end()));
      INFO("n ", n, " trial ", trial);
      CHECK(w2sq_exact(a, b) == doctest::Approx(best).epsilon(1e-12));
      CHECK(w2_exact(a, b) == doctest::Approx(std::sqrt(best)).epsilon(1e-12));
    }
  // above 2,048 points w2sq_exact takes the sparse solver: the same number as the dense one
  Generator h(8);
  Tensor a = randn({2100, 2}, DType::F64, Device::cpu(), &h), b = randn({2100, 2}, DType::F64, Device::cpu(), &h) + 0.3;
  CHECK(w2sq_exact(a, b) == doctest::Approx(solve_assignment(squared_distances(a, b), 2100).cost / 2100).epsilon(1e-10));
}

TEST_CASE("LAPJV from any starting prices, and OT-CFM's warm-started pairing, give the cold optimum") {
  std::mt19937 g(10);
  for (int n : {5, 7, 60}) {
    std::vector<double> c(n * n), v0(n);
    for (auto& x : c) x = std::uniform_real_distribution<>(0, 3)(g);
    for (auto& x : v0) x = std::uniform_real_distribution<>(-50, 50)(g);  // prices from nowhere
    Assignment cold = solve_assignment(c, n), warm = solve_assignment(c, n, &v0);
    CHECK(warm.cost == doctest::Approx(cold.cost).epsilon(1e-12));
    check_certificate(warm, c, n);
    if (n <= 7) CHECK(warm.cost == doctest::Approx(brute_force(c, n)).epsilon(1e-12));
  }
  // batches of C2OT's source and target: each warm pairing (duals from the batch before, whatever
  // its size) has the cold pairing's cost
  OtPairing pairing;
  Generator gen(11);
  for (int b = 0; b < 12; ++b) {
    const int64_t n = b % 4 == 3 ? 272 : 256;
    Tensor x0 = sample_toy2d(Toy2D::EightGaussians, n, &gen, DType::F32, ToyConvention::TorchCFM);
    Tensor x1 = sample_toy2d(Toy2D::Moons, n, &gen, DType::F32, ToyConvention::TorchCFM);
    std::vector<double> c = squared_distances(x0, x1);
    std::vector<int> warm = pairing(x0, x1), cold = ot_pairing(x0, x1);
    double cw = 0, cc = 0;
    for (int64_t i = 0; i < n; ++i) cw += c[i * n + warm[i]], cc += c[i * n + cold[i]];
    INFO("batch ", b);
    CHECK(cw == doctest::Approx(cc).epsilon(1e-12));
  }
  std::vector<double> bad(4, 1.0), short_v(1, 0.0);
  CHECK_THROWS_WITH_AS(solve_assignment(bad, 2, &short_v), doctest::Contains("starting prices"), Error);
}

TEST_CASE("assignment inputs are checked") {
  CHECK_THROWS_WITH_AS(solve_assignment({1, 2, 3}, 2), doctest::Contains("3 costs"), Error);
  CHECK_THROWS_WITH_AS(solve_assignment({1, NAN, 3, 4}, 2), doctest::Contains("non-finite"), Error);
  CHECK_THROWS_WITH_AS(w2_exact(zeros({3, 2}), zeros({4, 2})), doctest::Contains("equal size"), Error);
}
