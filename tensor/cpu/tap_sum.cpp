// The shifted-tap sum of a K x K conv computed as a 1x1 conv (tensor/params.h, TapSumParams), and
// its adjoint, which scatters dy back to each tap's shifted window. One output row (n, o, h) at a
// time: each tap adds a contiguous run of z's row h + i - pad, shifted by j - pad.
#include <algorithm>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dispatch.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu {

namespace {

// the columns w of an output row that tap column j reads in range: w + j - pad in [0, W)
struct Span {
  int64_t lo, hi;
};
Span span_of(const TapSumParams& p, int64_t j) {
  return {std::max<int64_t>(0, p.pad - j), std::min<int64_t>(p.W, p.W + p.pad - j)};
}

template <class T>
void tap_sum_typed(const TapSumParams& p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K;
  parallel_for(p.N * p.O * p.H, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t h = row % p.H, o = (row / p.H) % p.O, n = row / (p.H * p.O);
      T* yr = y + row * p.W;
      std::fill(yr, yr + p.W, T(0));
      for (int64_t i = 0; i < p.K; ++i) {
        const int64_t hs = h + i - p.pad;
        if (hs < 0 || hs >= p.H) continue;
        for (int64_t j = 0; j < p.K; ++j) {
          const T* zr = z + ((n * taps + i * p.K + j) * p.O + o) * plane + hs * p.W;
          const Span s = span_of(p, j);
          for (int64_t w = s.lo; w < s.hi; ++w) yr[w] += zr[w + j - p.pad];
        }
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(p.W * p.K * p.K, 1)));
}

template <class T>
void tap_sum_backward_typed(const TapSumParams& p, const T* dy, T* dz) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K;
  // one dz row (n, tap, o, h) at a time: it reads dy's row h - i + pad, shifted by pad - j
  parallel_for(p.N * taps * p.O * p.H, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t h = row % p.H, o = (row / p.H) % p.O, t = (row / (p.H * p.O)) % taps, n = row / (p.H * p.O * taps);
      const int64_t i = t / p.K, j = t % p.K, hy = h - i + p.pad;
      T* dr = dz + row * p.W;
      std::fill(dr, dr + p.W, T(0));
      if (hy < 0 || hy >= p.H) continue;
      const T* gr = dy + (n * p.O + o) * plane + hy * p.W;
      // dz[w'] = dy[w' - j + pad] for the w = w' - j + pad in range
      const Span s = span_of(p, j);
      for (int64_t w = s.lo; w < s.hi; ++w) dr[w + j - p.pad] = gr[w];
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(p.W, 1)));
}

}  // namespace

void CpuBackend::tap_sum(const TapSumParams& p, const Tensor& z, Tensor& y) {
  dispatch_float(z.dtype(), "tap_sum", [&](auto v) {
    using T = decltype(v);
    tap_sum_typed(p, dense_in<T>(&z), dense_out<T>(&y));
  });
}

void CpuBackend::tap_sum_backward(const TapSumParams& p, const Tensor& dy, Tensor& dz) {
  dispatch_float(dy.dtype(), "tap_sum_backward", [&](auto v) {
    using T = decltype(v);
    tap_sum_backward_typed(p, dense_in<T>(&dy), dense_out<T>(&dz));
  });
}

}  // namespace fg::cpu
