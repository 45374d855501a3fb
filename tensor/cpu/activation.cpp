// Fused activation kernels over [outer, C, inner] blocks: ConcatELU (alpha 1) forward and
// backward, whose backward reads only the saved output (elu'(v) = 1 for v > 0, else elu(v) + 1),
// and GatedConv's gated residual x + a * sigmoid(b), whose backward reads only h = [a, b]; and
// residual flows' LipSwish with its tangent, whose backward sums gbeta per fixed chunk (in double,
// in chunk order: the same sum on any thread count).
#include <vector>

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

template <class T>
void lipswish_typed(const T* x, const T* dx, T beta, T* y, T* dy, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    if (dy) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        const LipSwishAt<T> f = lipswish_at(x[i], beta);
        y[i] = f.y;
        dy[i] = f.slope * dx[i];
      }
    } else {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) y[i] = lipswish_at(x[i], beta).y;
    }
  });
}

// One run of [r, re) with the gradients present fixed at compile time (a branch-free loop that
// vectorizes); returns the run's share of gbeta.
template <bool kGy, bool kGdy, class T>
T lipswish_backward_run(const T* x, const T* dx, T beta, const T* gy, const T* gdy, T* gx, T* gdx, int64_t r,
                        int64_t re) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = r; i < re; ++i) {
    const LipSwishAt<T> f = lipswish_at(x[i], beta);
    T g = 0, b = 0;
    if constexpr (kGy) {
      g = gy[i] * f.slope;
      b = gy[i] * f.y_beta;
    }
    if constexpr (kGdy) {
      const T c = gdy[i] * dx[i];
      g += c * f.curve;
      b += c * f.slope_beta;
      gdx[i] = gdy[i] * f.slope;
    }
    gx[i] = g;
    acc += b;
  }
  return acc;
}

template <class T>
double lipswish_backward_typed(const T* x, const T* dx, T beta, const T* gy, const T* gdy, T* gx, T* gdx, int64_t n) {
  const int64_t chunks = (n + kGrain - 1) / kGrain;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  constexpr int64_t kRun = 512;  // T sums over runs of 512 elements, the runs' sums in double
  parallel_for(n, [&](int64_t b, int64_t e) {
    double total = 0;
    for (int64_t r = b; r < e; r += kRun) {
      const int64_t re = std::min(e, r + kRun);
      T acc;
      if (gy && gdy) acc = lipswish_backward_run<true, true>(x, dx, beta, gy, gdy, gx, gdx, r, re);
      else if (gy) acc = lipswish_backward_run<true, false>(x, dx, beta, gy, gdy, gx, gdx, r, re);
      else acc = lipswish_backward_run<false, true>(x, dx, beta, gy, gdy, gx, gdx, r, re);
      total += static_cast<double>(acc);
    }
    part[static_cast<size_t>(b / kGrain)] = total;
  });
  double total = 0;
  for (double p : part) total += p;
  return total;
}

}  // namespace

void CpuBackend::lipswish(const Tensor& x, const Tensor* dx, const Tensor& beta, Tensor& y, Tensor* dy) {
  dispatch_float(x.dtype(), "lipswish", [&](auto z) {
    using T = decltype(z);
    lipswish_typed(dense_in<T>(&x), dx ? dense_in<T>(dx) : nullptr, dense_in<T>(&beta)[0], dense_out<T>(&y),
                   dy ? dense_out<T>(dy) : nullptr, x.numel());
  });
}

void CpuBackend::lipswish_backward(const Tensor& x, const Tensor* dx, const Tensor& beta, const Tensor* gy,
                                   const Tensor* gdy, Tensor& gx, Tensor* gdx, Tensor& gbeta) {
  dispatch_float(x.dtype(), "lipswish_backward", [&](auto z) {
    using T = decltype(z);
    const double gb = lipswish_backward_typed(dense_in<T>(&x), dx ? dense_in<T>(dx) : nullptr, dense_in<T>(&beta)[0],
                                              gy ? dense_in<T>(gy) : nullptr, gdy ? dense_in<T>(gdy) : nullptr,
                                              dense_out<T>(&gx), gdx ? dense_out<T>(gdx) : nullptr, x.numel());
    dense_out<T>(&gbeta)[0] = static_cast<T>(gb);
  });
}

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
