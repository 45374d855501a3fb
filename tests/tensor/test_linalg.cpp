// Small-matrix LU, inverse and slogdet against hand-computed values.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/tensor/linalg.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;

TEST_CASE("slogdet and inverse of a 3x3 matrix") {
  // det = 2*(3*4-1*0) - 1*(1*4-1*2) + 0 = 24 - 2 = 22
  Tensor a = from_vector<double>({2, 1, 0, 1, 3, 1, 2, 0, 4}, {3, 3});
  auto r = slogdet(a);
  CHECK(r.sign == 1.0);
  CHECK(r.logabsdet == doctest::Approx(std::log(22.0)).epsilon(1e-12));
  Tensor inv = inverse(a);
  Tensor eye = matmul(a, inv);
  CHECK(max_abs_diff(eye, from_vector<double>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3})) < 1e-12);
}

TEST_CASE("slogdet sign of a negative determinant and of a singular matrix") {
  Tensor a = from_vector<double>({0, 1, 1, 0}, {2, 2});  // det -1
  auto r = slogdet(a);
  CHECK(r.sign == -1.0);
  CHECK(r.logabsdet == doctest::Approx(0.0));
  Tensor s = from_vector<double>({1, 2, 2, 4}, {2, 2});
  CHECK(slogdet(s).sign == 0.0);
  CHECK_THROWS_WITH_AS(inverse(s), doctest::Contains("singular"), Error);
  CHECK_THROWS_WITH_AS(slogdet(zeros({2, 3}, DType::F64)), doctest::Contains("[2, 3]"), Error);
}

TEST_CASE("LU reconstructs P*A = L*U") {
  Tensor a = randn({5, 5}, DType::F64);
  auto lu = lu_factor(a);
  auto m = lu.lu.to_vector<double>();
  auto av = a.to_vector<double>();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = 0;
      for (int k = 0; k < 5; ++k) {
        double l = k < i ? m[i * 5 + k] : (k == i ? 1.0 : 0.0);
        double u = k <= j ? m[k * 5 + j] : 0.0;
        s += l * u;
      }
      CHECK(s == doctest::Approx(av[lu.perm[i] * 5 + j]).epsilon(1e-10));
    }
}
