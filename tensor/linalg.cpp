// Doolittle LU with partial pivoting, in double on the host. n is small (the channel count of a
// 1x1 convolution), so O(n^3) plain loops are fine.
#include "tensor/linalg.h"

#include <cmath>

#include "tensor/ops.h"

namespace fg {

namespace {
int check_square(const Tensor& a, const char* op) {
  FG_CHECK(a.defined() && a.dim() == 2 && a.size(0) == a.size(1), "{}: expected a square matrix [n, n], got {}", op,
           a.defined() ? shape_str(a.shape()) : "undefined");
  FG_CHECK(is_floating(a.dtype()), "{}: expected f32 or f64, got {}", op, dtype_name(a.dtype()));
  return static_cast<int>(a.size(0));
}

// LU in place on row-major n x n doubles.
void lu_inplace(std::vector<double>& m, int n, std::vector<int>& perm, int& sign, bool& singular) {
  perm.resize(n);
  for (int i = 0; i < n; ++i) perm[i] = i;
  sign = 1;
  singular = false;
  for (int k = 0; k < n; ++k) {
    int piv = k;
    for (int i = k + 1; i < n; ++i)
      if (std::abs(m[i * n + k]) > std::abs(m[piv * n + k])) piv = i;
    if (piv != k) {
      for (int j = 0; j < n; ++j) std::swap(m[k * n + j], m[piv * n + j]);
      std::swap(perm[k], perm[piv]);
      sign = -sign;
    }
    double d = m[k * n + k];
    if (d == 0.0) {
      singular = true;
      continue;
    }
    for (int i = k + 1; i < n; ++i) {
      double f = m[i * n + k] / d;
      m[i * n + k] = f;
      for (int j = k + 1; j < n; ++j) m[i * n + j] -= f * m[k * n + j];
    }
  }
}
}  // namespace

LUResult lu_factor(const Tensor& a) {
  int n = check_square(a, "lu_factor");
  std::vector<double> m = a.to_vector<double>();
  LUResult r;
  lu_inplace(m, n, r.perm, r.sign, r.singular);
  r.lu = from_vector(m, {n, n}).to(a.dtype()).to(a.device());
  return r;
}

Tensor inverse(const Tensor& a) {
  int n = check_square(a, "inverse");
  std::vector<double> m = a.to_vector<double>();
  std::vector<int> perm;
  int sign;
  bool singular;
  lu_inplace(m, n, perm, sign, singular);
  FG_CHECK(!singular, "inverse: matrix {} is singular", shape_str(a.shape()));
  std::vector<double> inv(static_cast<size_t>(n) * n);
  std::vector<double> col(n);
  for (int c = 0; c < n; ++c) {
    for (int i = 0; i < n; ++i) col[i] = perm[i] == c ? 1.0 : 0.0;  // column c of P
    for (int i = 0; i < n; ++i)                                      // L y = P e_c
      for (int j = 0; j < i; ++j) col[i] -= m[i * n + j] * col[j];
    for (int i = n - 1; i >= 0; --i) {                               // U x = y
      for (int j = i + 1; j < n; ++j) col[i] -= m[i * n + j] * col[j];
      col[i] /= m[i * n + i];
    }
    for (int i = 0; i < n; ++i) inv[i * n + c] = col[i];
  }
  return from_vector(inv, {n, n}).to(a.dtype()).to(a.device());
}

SlogdetResult slogdet(const Tensor& a) {
  int n = check_square(a, "slogdet");
  std::vector<double> m = a.to_vector<double>();
  std::vector<int> perm;
  int sign;
  bool singular;
  lu_inplace(m, n, perm, sign, singular);
  if (singular) return {0.0, -INFINITY};
  double s = sign, l = 0;
  for (int i = 0; i < n; ++i) {
    double d = m[i * n + i];
    if (d < 0) s = -s;
    l += std::log(std::abs(d));
  }
  return {s, l};
}

}  // namespace fg
