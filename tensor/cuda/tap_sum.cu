// The shifted-tap sum of a K x K conv computed as a 1x1 conv (TapSumParams) and its adjoint, one
// thread per output element (the formulas of tensor/cpu/tap_sum.cpp). z (and dz) is plain
// [N, K*K*O, H, W] or channel-blocked [N, P/b, H, W, b] with P = K*K*O rounded up to b (the
// padding channels are zero in dz); y and dy are plain [N, O, H, W].
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

__host__ __device__ __forceinline__ int64_t blocks_of(const TapSumParams& p) {
  return p.block ? (p.K * p.K * p.O + p.block - 1) / p.block : 0;
}

// where channel c of sample n at plane position hw is in z
__device__ __forceinline__ int64_t z_at(const TapSumParams& p, int64_t n, int64_t c, int64_t hw) {
  const int64_t plane = p.H * p.W;
  if (p.block == 0) return (n * p.K * p.K * p.O + c) * plane + hw;
  return ((n * blocks_of(p) + c / p.block) * plane + hw) * p.block + c % p.block;
}

template <class T>
__global__ void tap_sum_kernel(TapSumParams p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, n_out = p.N * p.O * plane;
  FG_GRID_STRIDE(q, n_out) {
    const int64_t w = q % p.W, h = (q / p.W) % p.H, o = (q / plane) % p.O, n = q / (plane * p.O);
    T acc = T(0);
    for (int64_t i = 0; i < p.K; ++i) {
      const int64_t hs = h + i - p.pad;
      if (hs < 0 || hs >= p.H) continue;
      for (int64_t j = 0; j < p.K; ++j) {
        const int64_t ws = w + j - p.pad;
        if (ws >= 0 && ws < p.W) acc += z[z_at(p, n, (i * p.K + j) * p.O + o, hs * p.W + ws)];
      }
    }
    y[q] = acc;
  }
}

// one thread per element of dz, in dz's own order (padding channels of a blocked dz included)
template <class T>
__global__ void tap_sum_backward_kernel(TapSumParams p, const T* dy, T* dz, int64_t n_dz) {
  const int64_t plane = p.H * p.W, channels = p.K * p.K * p.O;
  FG_GRID_STRIDE(q, n_dz) {
    int64_t n, c, hw;
    if (p.block == 0) {
      hw = q % plane;
      c = (q / plane) % channels;
      n = q / (plane * channels);
    } else {
      const int64_t b = p.block, blocks = blocks_of(p);
      hw = (q / b) % plane;
      c = ((q / (b * plane)) % blocks) * b + q % b;
      n = q / (b * plane * blocks);
    }
    T v = T(0);
    if (c < channels) {
      const int64_t t = c / p.O, o = c % p.O;
      const int64_t hy = hw / p.W - t / p.K + p.pad, wy = hw % p.W - t % p.K + p.pad;
      if (hy >= 0 && hy < p.H && wy >= 0 && wy < p.W) v = dy[(n * p.O + o) * plane + hy * p.W + wy];
    }
    dz[q] = v;
  }
}

}  // namespace

void CudaBackend::tap_sum(const TapSumParams& p, const Tensor& z, Tensor& y) {
  FG_CHECK(p.block >= 0, "tap_sum on cuda: bad channel block {}", p.block);
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
  FG_CHECK(p.block >= 0, "tap_sum_backward on cuda: bad channel block {}", p.block);
  const int64_t channels = p.block ? blocks_of(p) * p.block : p.K * p.K * p.O;
  const int64_t n = p.N * channels * p.H * p.W;
  if (n == 0) return;
  activate();
  dispatch_float(dy.dtype(), "tap_sum_backward", [&](auto v) {
    using T = decltype(v);
    tap_sum_backward_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, ptr<T>(dy), ptr<T>(dz), n);
  });
  check_launch(stream_, "tap_sum_backward");
}

}  // namespace fg::cuda
