// Fused activation kernels over [outer, C, inner] blocks: ConcatELU (alpha 1) forward and
// backward, whose backward reads only the saved output (elu'(v) = 1 for v > 0, else elu(v) + 1),
// and GatedConv's gated residual x + a * sigmoid(b), whose backward reads only h = [a, b].
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {

using std::sqrt, std::floor, std::pow, std::sin, std::cos;
#define FG_HD __attribute__((always_inline))
#include "tensor/elementwise_math.inc"
#undef FG_HD

// Runs f(n, w) for each (outer, channel) row of [outer, C, inner], rows split across threads: n is
// the row's offset in a [outer, C, inner] tensor, w its offset in the first half of the
// [outer, 2C, inner] one (the second half's row is at w + C * inner).
template <class F>
void for_rows(int64_t outer, int64_t c, int64_t inner, F f) {
  parallel_for(outer * c, [&](int64_t b, int64_t e) {
    for (int64_t oc = b; oc < e; ++oc) f(oc * inner, (oc / c) * c * inner + oc * inner);
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)));
}

template <class T>
void gated_residual_typed(const T* x, const T* h, T* y, int64_t outer, int64_t c, int64_t inner) {
  const int64_t half = c * inner;
  for_rows(outer, c, inner, [&](int64_t n, int64_t w) {
    const T* xs = x + n;
    const T* a = h + w;
    const T* b = a + half;
    T* ys = y + n;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) ys[i] = xs[i] + a[i] * sigmoid_of(b[i]);
  });
}

template <class T>
void gated_residual_backward_typed(const T* h, const T* g, T* dh, int64_t outer, int64_t c, int64_t inner) {
  const int64_t half = c * inner;
  for_rows(outer, c, inner, [&](int64_t n, int64_t w) {
    const T* a = h + w;
    const T* b = a + half;
    const T* gs = g + n;
    T* da = dh + w;
    T* db = da + half;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) {
      T s = sigmoid_of(b[i]);
      da[i] = gs[i] * s;
      db[i] = gs[i] * a[i] * (s * (T(1) - s));
    }
  });
}

template <class T>
void concat_elu_typed(const T* x, T* y, int64_t outer, int64_t c, int64_t inner) {
  const int64_t half = c * inner;
  for_rows(outer, c, inner, [&](int64_t n, int64_t w) {
    const T* xs = x + n;
    T* y1 = y + w;
    T* y2 = y1 + half;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) concat_elu_pair(xs[i], y1[i], y2[i]);
  });
}

template <class T>
void concat_elu_backward_typed(const T* y, const T* g, T* dx, int64_t outer, int64_t c, int64_t inner) {
  const int64_t half = c * inner;
  for_rows(outer, c, inner, [&](int64_t n, int64_t w) {
    const T* y1 = y + w;
    const T* y2 = y1 + half;
    const T* g1 = g + w;
    const T* g2 = g1 + half;
    T* d = dx + n;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) {
      T d1 = y1[i] > T(0) ? T(1) : y1[i] + T(1);
      T d2 = y2[i] > T(0) ? T(1) : y2[i] + T(1);
      d[i] = g1[i] * d1 - g2[i] * d2;
    }
  });
}

}  // namespace

void CpuBackend::gated_residual(const ConcatEluParams& p, const Tensor& x, const Tensor& h, Tensor& y) {
  dispatch_float(x.dtype(), "gated_residual", [&](auto z) {
    using T = decltype(z);
    gated_residual_typed(dense_in<T>(&x), dense_in<T>(&h), dense_out<T>(&y), p.outer, p.C, p.inner);
  });
}

void CpuBackend::gated_residual_backward(const ConcatEluParams& p, const Tensor& h, const Tensor& g, Tensor& dh) {
  dispatch_float(h.dtype(), "gated_residual_backward", [&](auto z) {
    using T = decltype(z);
    gated_residual_backward_typed(dense_in<T>(&h), dense_in<T>(&g), dense_out<T>(&dh), p.outer, p.C, p.inner);
  });
}

void CpuBackend::concat_elu(const ConcatEluParams& p, const Tensor& x, Tensor& y) {
  dispatch_float(x.dtype(), "concat_elu", [&](auto z) {
    using T = decltype(z);
    concat_elu_typed(dense_in<T>(&x), dense_out<T>(&y), p.outer, p.C, p.inner);
  });
}

void CpuBackend::concat_elu_backward(const ConcatEluParams& p, const Tensor& y, const Tensor& g, Tensor& dx) {
  dispatch_float(y.dtype(), "concat_elu_backward", [&](auto z) {
    using T = decltype(z);
    concat_elu_backward_typed(dense_in<T>(&y), dense_in<T>(&g), dense_out<T>(&dx), p.outer, p.C, p.inner);
  });
}

}  // namespace fg::cpu
