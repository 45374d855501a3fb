// The shifted-tap sum of a K x K conv computed as a 1x1 conv (tensor/params.h, TapSumParams), and
// its adjoint, which scatters dy back to each tap's shifted window. One plane (n, o) or
// (n, tap, o) per work item; each tap moves contiguous runs of rows, shifted by (i - pad, j - pad).
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

// one output plane (n, o) per work item, its taps added row by row
template <class T>
void tap_sum_typed(const TapSumParams& p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K;
  parallel_for(p.N * p.O, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q % p.O, n = q / p.O;
      T* yp = y + q * plane;
      std::fill(yp, yp + plane, T(0));
      for (int64_t i = 0; i < p.K; ++i) {
        const int64_t h0 = std::max<int64_t>(0, p.pad - i), h1 = std::min<int64_t>(p.H, p.H + p.pad - i);
        for (int64_t j = 0; j < p.K; ++j) {
          const T* zp = z + ((n * taps + i * p.K + j) * p.O + o) * plane;
          const Span s = span_of(p, j);
          for (int64_t h = h0; h < h1; ++h) {
            T* yr = yp + h * p.W;
            const T* zr = zp + (h + i - p.pad) * p.W;
            for (int64_t w = s.lo; w < s.hi; ++w) yr[w] += zr[w + j - p.pad];
          }
        }
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane * taps, 1)));
}

// one dz plane (n, tap, o) per work item: dz[h', w'] = dy[h' - i + pad, w' - j + pad], 0 outside
template <class T>
void tap_sum_backward_typed(const TapSumParams& p, const T* dy, T* dz) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K;
  parallel_for(p.N * taps * p.O, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q % p.O, t = (q / p.O) % taps, n = q / (p.O * taps);
      const int64_t i = t / p.K, j = t % p.K;
      T* dp = dz + q * plane;
      const T* gp = dy + (n * p.O + o) * plane;
      std::fill(dp, dp + plane, T(0));
      const Span s = span_of(p, j);  // the dy columns w whose dz column w + j - pad is in range
      const int64_t h0 = std::max<int64_t>(0, p.pad - i), h1 = std::min<int64_t>(p.H, p.H + p.pad - i);
      for (int64_t h = h0; h < h1; ++h) {  // dy row h feeds dz row h + i - pad
        const T* gr = gp + h * p.W;
        T* dr = dp + (h + i - p.pad) * p.W;
        for (int64_t w = s.lo; w < s.hi; ++w) dr[w + j - p.pad] = gr[w];
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane, 1)));
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
