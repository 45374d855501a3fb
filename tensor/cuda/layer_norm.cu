// CUDA layer norm over C of x viewed as [outer, C, inner] (the formulas of
// tensor/cpu/layer_norm_ref.cpp, sums in double); channel-blocked x (p.block = b > 0) is
// [outer, C/b, inner, b], reached through the same kernels by at(). Forward and dx: one thread per
// (outer, inner) position when inner > 1 (the channel case), one warp per row when inner == 1 (the
// last-dim case, where the blocked and plain layouts coincide). dgamma/dbeta: one block per
// channel over all positions, in a fixed order. C = 0 writes mean 0 and rstd 1/sqrt(eps).
#include <cmath>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

// the element (o, c, i) of x: plain [outer, C, inner], or blocked [outer, C/B, inner, B]
__device__ __forceinline__ int64_t at(const LayerNormParams& p, int64_t o, int64_t c, int64_t i) {
  if (p.block == 0) return (o * p.C + c) * p.inner + i;
  const int64_t B = p.block;
  return ((o * (p.C / B) + c / B) * p.inner + i) * B + c % B;
}

template <class T>
__device__ __forceinline__ double g_at(const T* gamma, int64_t c) { return gamma ? static_cast<double>(gamma[c]) : 1.0; }

template <class T>
__global__ void ln_forward_positions(LayerNormParams p, const T* x, const T* gamma, const T* beta, T* y, T* mean,
                                     T* rstd) {
  const int64_t positions = p.outer * p.inner, C = p.C, inner = p.inner;
  FG_GRID_STRIDE(q, positions) {
    const int64_t o = q / inner, i = q % inner;
    double mu = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mu += static_cast<double>(x[at(p, o, c, i)]);
    mu /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(x[at(p, o, c, i)]) - mu;
      var += d * d;
    }
    const double rs = 1.0 / sqrt(var / static_cast<double>(C) + p.eps);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = at(p, o, c, i);
      const double b = beta ? static_cast<double>(beta[c]) : 0.0;
      y[k] = static_cast<T>((static_cast<double>(x[k]) - mu) * rs * g_at(gamma, c) + b);
    }
    mean[q] = static_cast<T>(mu);
    rstd[q] = static_cast<T>(rs);
  }
}

// inner == 1: warp w normalizes row w
template <class T>
__global__ void ln_forward_rows(LayerNormParams p, const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5, C = p.C;
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; r < p.outer; r += warps) {
    const T* xr = x + r * C;
    double mu = 0, var = 0;
    for (int64_t c = lane; c < C; c += 32) mu += static_cast<double>(xr[c]);
    mu = __shfl_sync(0xffffffffu, warp_sum(mu), 0) / static_cast<double>(C);
    for (int64_t c = lane; c < C; c += 32) {
      const double d = static_cast<double>(xr[c]) - mu;
      var += d * d;
    }
    var = __shfl_sync(0xffffffffu, warp_sum(var), 0);
    const double rs = 1.0 / sqrt(var / static_cast<double>(C) + p.eps);
    for (int64_t c = lane; c < C; c += 32) {
      const double b = beta ? static_cast<double>(beta[c]) : 0.0;
      y[r * C + c] = static_cast<T>((static_cast<double>(xr[c]) - mu) * rs * g_at(gamma, c) + b);
    }
    if (lane == 0) {
      mean[r] = static_cast<T>(mu);
      rstd[r] = static_cast<T>(rs);
    }
  }
}

template <class T>
__global__ void ln_backward_positions(LayerNormParams p, const T* dy, const T* x, const T* gamma, const T* mean,
                                      const T* rstd, T* dx) {
  const int64_t positions = p.outer * p.inner, C = p.C, inner = p.inner;
  const double inv_c = 1.0 / static_cast<double>(C);
  FG_GRID_STRIDE(q, positions) {
    const int64_t o = q / inner, i = q % inner;
    const double mu = static_cast<double>(mean[q]), rs = static_cast<double>(rstd[q]);
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = at(p, o, c, i);
      const double g = static_cast<double>(dy[k]) * g_at(gamma, c);
      s1 += g;
      s2 += g * (static_cast<double>(x[k]) - mu) * rs;
    }
    s1 *= inv_c;
    s2 *= inv_c;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = at(p, o, c, i);
      const double xhat = (static_cast<double>(x[k]) - mu) * rs;
      dx[k] = static_cast<T>(rs * (static_cast<double>(dy[k]) * g_at(gamma, c) - s1 - xhat * s2));
    }
  }
}

template <class T>
__global__ void ln_backward_rows(LayerNormParams p, const T* dy, const T* x, const T* gamma, const T* mean,
                                 const T* rstd, T* dx) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5, C = p.C;
  const double inv_c = 1.0 / static_cast<double>(C);
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; r < p.outer; r += warps) {
    const double mu = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    double s1 = 0, s2 = 0;
    for (int64_t c = lane; c < C; c += 32) {
      const double g = static_cast<double>(dy[r * C + c]) * g_at(gamma, c);
      s1 += g;
      s2 += g * (static_cast<double>(x[r * C + c]) - mu) * rs;
    }
    s1 = __shfl_sync(0xffffffffu, warp_sum(s1), 0) * inv_c;
    s2 = __shfl_sync(0xffffffffu, warp_sum(s2), 0) * inv_c;
    for (int64_t c = lane; c < C; c += 32) {
      const double xhat = (static_cast<double>(x[r * C + c]) - mu) * rs;
      dx[r * C + c] = static_cast<T>(rs * (static_cast<double>(dy[r * C + c]) * g_at(gamma, c) - s1 - xhat * s2));
    }
  }
}

// block c: dgamma[c] = sum dy * xhat, dbeta[c] = sum dy over all (outer, inner)
template <class T>
__global__ void ln_affine_grads(LayerNormParams p, const T* dy, const T* x, const T* mean, const T* rstd, T* dgamma,
                                T* dbeta) {
  __shared__ double shared[32];
  const int64_t C = p.C, inner = p.inner, positions = p.outer * inner;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sg = 0, sb = 0;
    for (int64_t q = threadIdx.x; q < positions; q += blockDim.x) {
      const int64_t k = at(p, q / inner, c, q % inner);
      const double d = static_cast<double>(dy[k]);
      sg += d * (static_cast<double>(x[k]) - static_cast<double>(mean[q])) * static_cast<double>(rstd[q]);
      sb += d;
    }
    sg = block_reduce(sg, shared, SumOp{});
    sb = block_reduce(sb, shared, SumOp{});
    if (threadIdx.x == 0) {
      if (dgamma) dgamma[c] = static_cast<T>(sg);
      if (dbeta) dbeta[c] = static_cast<T>(sb);
    }
  }
}

void check_block(const LayerNormParams& p) {
  FG_CHECK(p.block >= 0 && (p.block == 0 || p.C % p.block == 0),
           "layer_norm on cuda: {} channels do not split into blocks of {}", p.C, p.block);
}

}  // namespace

void CudaBackend::layer_norm_forward(const LayerNormParams& p, const Tensor& x, const Tensor* gate,
                                     const Tensor* gamma, const Tensor* beta, Tensor& y, Tensor& mean, Tensor& rstd) {
  check_block(p);
  if (p.outer * p.inner <= 0) return;
  if (p.C <= 0) {  // the empty sums are 0 (as on the CPU); y is empty
    fill(mean, 0.0);
    fill(rstd, 1.0 / std::sqrt(p.eps));
    return;
  }
  activate();
  Tensor r;  // with a gate: the gated residual first (activation.cu), then the norm of it
  if (gate) {
    r = Tensor::empty(x.shape(), x.dtype(), x.device());
    gated_residual(ConcatEluParams{p.outer, p.C, p.inner}, x, *gate, r);
  }
  const Tensor& in = gate ? r : x;
  dispatch_float(x.dtype(), "layer_norm", [&](auto z) {
    using T = decltype(z);
    if (p.inner == 1)
      ln_forward_rows<T><<<grid_for(p.outer * 32), kThreads, 0, stream_>>>(p, ptr<T>(in), ptr<T>(gamma), ptr<T>(beta),
                                                                           ptr<T>(y), ptr<T>(mean), ptr<T>(rstd));
    else
      ln_forward_positions<T><<<grid_for(p.outer * p.inner), kThreads, 0, stream_>>>(
          p, ptr<T>(in), ptr<T>(gamma), ptr<T>(beta), ptr<T>(y), ptr<T>(mean), ptr<T>(rstd));
  });
  check_launch(stream_, "layer_norm_forward");
}

void CudaBackend::layer_norm_backward(const LayerNormParams& p, const Tensor& dy, const Tensor& x,
                                      const Tensor* gamma, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                                      Tensor* dgamma, Tensor* dbeta) {
  check_block(p);
  if (p.C <= 0) return;  // (no positions: dgamma and dbeta are still zeroed below)
  activate();
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto z) {
    using T = decltype(z);
    if (p.outer * p.inner > 0) {
      if (p.inner == 1)
        ln_backward_rows<T><<<grid_for(p.outer * 32), kThreads, 0, stream_>>>(
            p, ptr<T>(dy), ptr<T>(x), ptr<T>(gamma), ptr<T>(mean), ptr<T>(rstd), ptr<T>(dx));
      else
        ln_backward_positions<T><<<grid_for(p.outer * p.inner), kThreads, 0, stream_>>>(
            p, ptr<T>(dy), ptr<T>(x), ptr<T>(gamma), ptr<T>(mean), ptr<T>(rstd), ptr<T>(dx));
    }
    if (dgamma || dbeta) {
      const unsigned grid = static_cast<unsigned>(p.C < 65535 ? p.C : 65535);
      ln_affine_grads<T><<<grid, kThreads, 0, stream_>>>(p, ptr<T>(dy), ptr<T>(x), ptr<T>(mean), ptr<T>(rstd),
                                                         ptr<T>(dgamma), ptr<T>(dbeta));
    }
  });
  check_launch(stream_, "layer_norm_backward");
}

}  // namespace fg::cuda
