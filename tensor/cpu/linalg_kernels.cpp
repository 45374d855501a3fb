// CPU kernels for small dense matrices (one [n, n] at a time, n = a 1x1 conv's channels): inverse
// by LU and forward/back substitution, sign and log|det| from the LU's diagonal, in double.
#include <cmath>

#include "flowgrad/tensor/linalg.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {
template <class T>
std::vector<double> load(const Tensor& a) {
  const T* p = dense_in<T>(&a);
  return std::vector<double>(p, p + a.numel());
}
}  // namespace

void CpuBackend::inverse(const Tensor& a, Tensor& out) {
  dispatch_float(a.dtype(), "inverse", [&](auto z) {
    using T = decltype(z);
    const int n = static_cast<int>(a.size(0));
    std::vector<double> m = load<T>(a);
    std::vector<int> perm;
    int sign;
    bool singular;
    lu_inplace(m, n, perm, sign, singular);
    FG_CHECK(!singular, "inverse: matrix {} is singular", shape_str(a.shape()));
    T* o = dense_out<T>(&out);
    std::vector<double> col(n);
    for (int c = 0; c < n; ++c) {
      for (int i = 0; i < n; ++i) col[i] = perm[i] == c ? 1.0 : 0.0;  // column c of P
      for (int i = 0; i < n; ++i)                                      // L y = P e_c
        for (int j = 0; j < i; ++j) col[i] -= m[i * n + j] * col[j];
      for (int i = n - 1; i >= 0; --i) {                               // U x = y
        for (int j = i + 1; j < n; ++j) col[i] -= m[i * n + j] * col[j];
        col[i] /= m[i * n + i];
      }
      for (int i = 0; i < n; ++i) o[i * n + c] = static_cast<T>(col[i]);
    }
  });
}

void CpuBackend::slogdet(const Tensor& a, Tensor& logabsdet, Tensor& sign_out) {
  dispatch_float(a.dtype(), "slogdet", [&](auto z) {
    using T = decltype(z);
    const int n = static_cast<int>(a.size(0));
    std::vector<double> m = load<T>(a);
    std::vector<int> perm;
    int sign;
    bool singular;
    lu_inplace(m, n, perm, sign, singular);
    double s = sign, l = 0;
    if (singular) {
      s = 0;
      l = -INFINITY;
    } else {
      for (int i = 0; i < n; ++i) {
        double d = m[i * n + i];
        if (d < 0) s = -s;
        l += std::log(std::abs(d));
      }
    }
    *dense_out<T>(&logabsdet) = static_cast<T>(l);
    *dense_out<T>(&sign_out) = static_cast<T>(s);
  });
}

}  // namespace fg::cpu
