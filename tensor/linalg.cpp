// Doolittle LU with partial pivoting, in double. n is small (the channel count of a 1x1
// convolution), so O(n^3) plain loops are fine. inverse/logabsdet/slogdet dispatch to the backend.
#include "flowgrad/tensor/linalg.h"

#include <cmath>

#include "tensor/ops_check.h"

namespace fg {

namespace {
int check_square(const Tensor& a, const char* op) {
  FG_CHECK(a.defined() && a.dim() == 2 && a.size(0) == a.size(1), "{}: expected a square matrix [n, n], got {}", op,
           a.defined() ? shape_str(a.shape()) : "undefined");
  FG_CHECK(is_floating(a.dtype()), "{}: expected f32 or f64, got {}", op, dtype_name(a.dtype()));
  return static_cast<int>(a.size(0));
}
}  // namespace

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

LUResult lu_factor(const Tensor& a) {
  int n = check_square(a, "lu_factor");
  std::vector<double> m = a.to_vector<double>();
  LUResult r;
  lu_inplace(m, n, r.perm, r.sign, r.singular);
  r.lu = from_vector(m, {n, n}).to(a.dtype()).to(a.device());
  return r;
}

Tensor inverse(const Tensor& a) {
  check_square(a, "inverse");
  Tensor ac = a.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  launch(a.device()).inverse(ac, out);
  return out;
}

Tensor logabsdet(const Tensor& a) {
  check_square(a, "logabsdet");
  Tensor ac = a.contiguous();
  Tensor l = Tensor::empty({}, a.dtype(), a.device()), s = Tensor::empty({}, a.dtype(), a.device());
  launch(a.device()).slogdet(ac, l, s);
  return l;
}

SlogdetResult slogdet(const Tensor& a) {
  check_square(a, "slogdet");
  Tensor ac = a.contiguous();
  Tensor l = Tensor::empty({}, a.dtype(), a.device()), s = Tensor::empty({}, a.dtype(), a.device());
  launch(a.device()).slogdet(ac, l, s);
  return {s.item(), l.item()};
}

}  // namespace fg
