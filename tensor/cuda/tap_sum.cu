// The shifted-tap sum of a K x K conv computed as a 1x1 conv (TapSumParams) and its adjoint, one
// thread per output element (the formulas of tensor/cpu/tap_sum.cpp).
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

template <class T>
__global__ void tap_sum_kernel(TapSumParams p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K, n_out = p.N * p.O * plane;
  FG_GRID_STRIDE(q, n_out) {
    const int64_t w = q % p.W, h = (q / p.W) % p.H, o = (q / plane) % p.O, n = q / (plane * p.O);
    T acc = T(0);
    for (int64_t i = 0; i < p.K; ++i) {
      const int64_t hs = h + i - p.pad;
      if (hs < 0 || hs >= p.H) continue;
      for (int64_t j = 0; j < p.K; ++j) {
        const int64_t ws = w + j - p.pad;
        if (ws >= 0 && ws < p.W) acc += z[((n * taps + i * p.K + j) * p.O + o) * plane + hs * p.W + ws];
      }
    }
    y[q] = acc;
  }
}

template <class T>
__global__ void tap_sum_backward_kernel(TapSumParams p, const T* dy, T* dz) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K, n_out = p.N * taps * p.O * plane;
  FG_GRID_STRIDE(q, n_out) {
    const int64_t w = q % p.W, h = (q / p.W) % p.H, o = (q / plane) % p.O, t = (q / (plane * p.O)) % taps,
                  n = q / (plane * p.O * taps);
    const int64_t hy = h - t / p.K + p.pad, wy = w - t % p.K + p.pad;
    dz[q] = hy >= 0 && hy < p.H && wy >= 0 && wy < p.W ? dy[(n * p.O + o) * plane + hy * p.W + wy] : T(0);
  }
}

}  // namespace

void CudaBackend::tap_sum(const TapSumParams& p, const Tensor& z, Tensor& y) {
  FG_CHECK(p.block == 0, "tap_sum on cuda: channel-blocked layouts are CPU-only");
  const int64_t n = p.N * p.O * p.H * p.W;
  if (n == 0) return;
  activate();
  dispatch_float(z.dtype(), "tap_sum", [&](auto v) {
    using T = decltype(v);
    tap_sum_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, ptr<T>(z), ptr<T>(y));
  });
  check_launch(stream_, "tap_sum");
}

void CudaBackend::tap_sum_backward(const TapSumParams& p, const Tensor& dy, Tensor& dz) {
  FG_CHECK(p.block == 0, "tap_sum_backward on cuda: channel-blocked layouts are CPU-only");
  const int64_t n = p.N * p.K * p.K * p.O * p.H * p.W;
  if (n == 0) return;
  activate();
  dispatch_float(dy.dtype(), "tap_sum_backward", [&](auto v) {
    using T = decltype(v);
    tap_sum_backward_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, ptr<T>(dy), ptr<T>(dz));
  });
  check_launch(stream_, "tap_sum_backward");
}

}  // namespace fg::cuda
