// The sparse exact assignment between point sets (W2 at n = 10,000): the same optimum as the dense
// LAPJV on moderate sets (starting prices from small subsamples, so the candidates miss optimal
// pairs and the certificate has to add them), transport across the plane, a collapsed set, points
// that must cross a gap, ties, and tiny sizes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "flowgrad/flows/continuous/sparse_assignment.h"
#include "flowgrad/flows/toy_data.h"

using namespace fg;
using namespace fg::flows;

namespace {

// m: the subsample of the starting prices (small, so that the sparse phases have work to do)
SparseAssignment check_against_dense(const Tensor& a, const Tensor& b, int k, int m) {
  const int n = static_cast<int>(a.size(0));
  SparseAssignmentOptions o;
  o.neighbours = k;
  o.sample = m;
  SparseAssignment s = solve_assignment_sparse(a, b, o);
  Assignment d = solve_assignment(squared_distances(a, b), n);
  INFO("n ", n, ", k ", k, ", rounds ", s.rounds, ", edges ", s.edges, ", widened ", s.widened);
  CHECK(s.cost == doctest::Approx(d.cost).epsilon(1e-10));
  std::vector<int> seen(n, 0);
  for (int j : s.col_of_row) {
    REQUIRE(j >= 0);
    REQUIRE(j < n);
    CHECK(seen[j]++ == 0);
  }
  CHECK(s.max_violation <= s.tolerance);
  // it stayed sparse (at n = 10,000 the candidates end at 1.4-1.9% of the n^2 pairs: tools/bench_ot;
  // here, with a small subsample's prices, each certificate round adds up to 64 pairs per row)
  if (n >= 1000) CHECK(s.edges < static_cast<int64_t>(n) * n / 4);
  return s;
}

}  // namespace

TEST_CASE("sparse assignment: the dense LAPJV's optimum on moons against moons and 8 Gaussians against moons") {
  const auto cfm = ToyConvention::TorchCFM;
  for (int n : {300, 1500}) {
    Generator g(static_cast<uint64_t>(n));
    Tensor m1 = sample_toy2d(Toy2D::Moons, n, &g, DType::F64, cfm);
    Tensor m2 = sample_toy2d(Toy2D::Moons, n, &g, DType::F64, cfm) + randn({n, 2}, DType::F64, Device::cpu(), &g) * 0.05;
    check_against_dense(m1, m2, 16, 64);
    // transport across the plane: the optimal partners are far from each point
    Tensor s = sample_toy2d(Toy2D::EightGaussians, n, &g, DType::F64, cfm);
    check_against_dense(s, m1, 8, 64);
    // and a collapsed set (I-CFM's one Euler step): every row nearest the same few columns
    Tensor blob = randn({n, 2}, DType::F64, Device::cpu(), &g) * 0.05 + 0.5;
    check_against_dense(blob, m1, 4, 32);
  }
}

TEST_CASE("sparse assignment: points that must cross a gap no row's nearest candidates span") {
  // a: 80 points in a cluster at x = 0 and 20 at x = 100; b: 20 at x = 0 and 80 at x = 100, so 60
  // points must cross, and with k = 2 no row on the left has a candidate on the right
  Generator g(9);
  Tensor noise_a = randn({100, 2}, DType::F64, Device::cpu(), &g), noise_b = randn({100, 2}, DType::F64, Device::cpu(), &g);
  std::vector<double> sa(200, 0.0), sb(200, 0.0);
  for (int i = 0; i < 100; ++i) {
    sa[2 * i] = i < 80 ? 0.0 : 100.0;
    sb[2 * i] = i < 20 ? 0.0 : 100.0;
  }
  Tensor a = from_vector(sa, {100, 2}) + noise_a, b = from_vector(sb, {100, 2}) + noise_b;
  check_against_dense(a, b, 2, 8);  // the greedy matching and the certificate supply the crossings
}

TEST_CASE("sparse assignment: ties, identical sets, tiny sizes and bad input") {
  // a lattice with every point four times: many optimal assignments of equal cost
  std::vector<double> lat;
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) lat.insert(lat.end(), {static_cast<double>(i), static_cast<double>(j)});
  Tensor a = from_vector(lat, {100, 2});
  Generator g(2);
  std::vector<int32_t> perm(100);
  std::iota(perm.begin(), perm.end(), 0);
  std::reverse(perm.begin(), perm.end());
  Tensor b = gather_rows(a, from_vector(perm, {100})) + 0.5;
  check_against_dense(a, b, 3, 10);
  SparseAssignment same = solve_assignment_sparse(a, a);
  CHECK(same.cost == 0.0);
  for (int n : {1, 2, 3}) {
    Tensor x = randn({n, 2}, DType::F64, Device::cpu(), &g), y = randn({n, 2}, DType::F64, Device::cpu(), &g);
    CHECK(solve_assignment_sparse(x, y).cost ==
          doctest::Approx(solve_assignment(squared_distances(x, y), n).cost).epsilon(1e-12));
  }
  CHECK(solve_assignment_sparse(zeros({0, 2}), zeros({0, 2})).cost == 0.0);
  CHECK_THROWS_WITH_AS(solve_assignment_sparse(zeros({3, 2}), zeros({4, 2})), doctest::Contains("same shape"), Error);
  CHECK_THROWS_WITH_AS(solve_assignment_sparse(from_vector<double>({0, NAN}, {1, 2}), zeros({1, 2})),
                       doctest::Contains("non-finite"), Error);
}
