// CUDA layer norm over C of x viewed as [outer, C, inner] (the formulas of
// tensor/cpu/layer_norm_ref.cpp, sums in double), the fused ConcatELU pair and the gated residual.
// Forward and dx: one thread per (outer, inner) position when inner > 1 (neighbouring threads read
// neighbouring addresses at every c: the channel case), one warp per row when inner == 1 (the
// last-dim case). dgamma/dbeta: one block per channel over all positions, in a fixed order.
#include "tensor/cuda/device.cuh"
#include "tensor/cuda/kernels.h"

namespace fg::cuda {

namespace {

#define FG_HD __device__
#include "tensor/elementwise_math.inc"
#undef FG_HD

template <class T>
__device__ __forceinline__ double g_at(const T* gamma, int64_t c) { return gamma ? static_cast<double>(gamma[c]) : 1.0; }

template <class T>
__global__ void ln_forward_positions(LayerNormParams p, const T* x, const T* gamma, const T* beta, T* y, T* mean,
                                     T* rstd) {
  const int64_t positions = p.outer * p.inner, C = p.C, inner = p.inner;
  FG_GRID_STRIDE(q, positions) {
    const int64_t o = q / inner, i = q % inner, base = o * C * inner + i;
    double mu = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mu += static_cast<double>(x[base + c * inner]);
    mu /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(x[base + c * inner]) - mu;
      var += d * d;
    }
    const double rs = 1.0 / sqrt(var / static_cast<double>(C) + p.eps);
    for (int64_t c = 0; c < C; ++c) {
      const double b = beta ? static_cast<double>(beta[c]) : 0.0;
      y[base + c * inner] = static_cast<T>((static_cast<double>(x[base + c * inner]) - mu) * rs * g_at(gamma, c) + b);
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
    const int64_t o = q / inner, i = q % inner, base = o * C * inner + i;
    const double mu = static_cast<double>(mean[q]), rs = static_cast<double>(rstd[q]);
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double g = static_cast<double>(dy[base + c * inner]) * g_at(gamma, c);
      s1 += g;
      s2 += g * (static_cast<double>(x[base + c * inner]) - mu) * rs;
    }
    s1 *= inv_c;
    s2 *= inv_c;
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (static_cast<double>(x[base + c * inner]) - mu) * rs;
      dx[base + c * inner] =
          static_cast<T>(rs * (static_cast<double>(dy[base + c * inner]) * g_at(gamma, c) - s1 - xhat * s2));
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
      const int64_t o = q / inner, i = q % inner, at = (o * C + c) * inner + i;
      const double d = static_cast<double>(dy[at]);
      sg += d * (static_cast<double>(x[at]) - static_cast<double>(mean[q])) * static_cast<double>(rstd[q]);
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

template <class T>
__global__ void concat_elu_kernel(ConcatEluParams p, const T* x, T* y) {
  const int64_t plane = p.C * p.inner, n = p.outer * plane;
  FG_GRID_STRIDE(i, n) {
    const int64_t o = i / plane, r = i % plane;
    const T v = x[i];
    const T em = expm1(v < T(0) ? v : -v);  // e^{-|v|} - 1
    y[o * 2 * plane + r] = v > T(0) ? v : em;
    y[o * 2 * plane + plane + r] = v > T(0) ? em : -v;
  }
}

template <class T>
__global__ void concat_elu_backward_kernel(ConcatEluParams p, const T* y, const T* g, T* dx) {
  const int64_t plane = p.C * p.inner, n = p.outer * plane;
  FG_GRID_STRIDE(i, n) {
    const int64_t o = i / plane, r = i % plane, a = o * 2 * plane + r, b = a + plane;
    const T d1 = y[a] > T(0) ? T(1) : y[a] + T(1);
    const T d2 = y[b] > T(0) ? T(1) : y[b] + T(1);
    dx[i] = g[a] * d1 - g[b] * d2;
  }
}

template <class T>
__global__ void gated_residual_kernel(ConcatEluParams p, const T* x, const T* h, T* y) {
  const int64_t plane = p.C * p.inner, n = p.outer * plane;
  FG_GRID_STRIDE(i, n) {
    const int64_t a = (i / plane) * 2 * plane + i % plane;
    y[i] = x[i] + h[a] * sigmoid_of(h[a + plane]);
  }
}

template <class T>
__global__ void gated_residual_backward_kernel(ConcatEluParams p, const T* h, const T* g, T* dh) {
  const int64_t plane = p.C * p.inner, n = p.outer * plane;
  FG_GRID_STRIDE(i, n) {
    const int64_t a = (i / plane) * 2 * plane + i % plane, b = a + plane;
    const T s = sigmoid_of(h[b]);
    dh[a] = g[i] * s;
    dh[b] = g[i] * h[a] * (s * (T(1) - s));
  }
}

template <class T> const T* cp(const void* p) { return static_cast<const T*>(p); }
template <class T> T* mp(void* p) { return static_cast<T*>(p); }

}  // namespace

void layer_norm_forward(cudaStream_t s, DType t, const LayerNormParams& p, const void* x, const void* gamma,
                        const void* beta, void* y, void* mean, void* rstd) {
  if (p.C <= 0 || p.outer * p.inner <= 0) return;
  dispatch_float(t, [&](auto z) {
    using T = decltype(z);
    if (p.inner == 1)
      ln_forward_rows<T><<<grid_for(p.outer * 32), kThreads, 0, s>>>(p, cp<T>(x), cp<T>(gamma), cp<T>(beta), mp<T>(y),
                                                                     mp<T>(mean), mp<T>(rstd));
    else
      ln_forward_positions<T><<<grid_for(p.outer * p.inner), kThreads, 0, s>>>(
          p, cp<T>(x), cp<T>(gamma), cp<T>(beta), mp<T>(y), mp<T>(mean), mp<T>(rstd));
  });
  check_launch("layer_norm_forward");
}

void layer_norm_backward(cudaStream_t s, DType t, const LayerNormParams& p, const void* dy, const void* x,
                         const void* gamma, const void* mean, const void* rstd, void* dx, void* dgamma, void* dbeta) {
  if (p.C <= 0) return;
  dispatch_float(t, [&](auto z) {
    using T = decltype(z);
    if (p.outer * p.inner > 0) {
      if (p.inner == 1)
        ln_backward_rows<T><<<grid_for(p.outer * 32), kThreads, 0, s>>>(p, cp<T>(dy), cp<T>(x), cp<T>(gamma),
                                                                        cp<T>(mean), cp<T>(rstd), mp<T>(dx));
      else
        ln_backward_positions<T><<<grid_for(p.outer * p.inner), kThreads, 0, s>>>(
            p, cp<T>(dy), cp<T>(x), cp<T>(gamma), cp<T>(mean), cp<T>(rstd), mp<T>(dx));
    }
    if (dgamma || dbeta) {
      const unsigned grid = static_cast<unsigned>(p.C < 65535 ? p.C : 65535);
      ln_affine_grads<T><<<grid, kThreads, 0, s>>>(p, cp<T>(dy), cp<T>(x), cp<T>(mean), cp<T>(rstd), mp<T>(dgamma),
                                                   mp<T>(dbeta));
    }
  });
  check_launch("layer_norm_backward");
}

namespace {
// One thread per element of the [outer, C, inner] half: launch(T{}, grid) for the dtype t.
template <class F>
void launch_rows(DType t, const ConcatEluParams& p, const char* what, F launch) {
  const int64_t n = p.outer * p.C * p.inner;
  if (n == 0) return;
  dispatch_float(t, [&](auto z) { launch(z, grid_for(n)); });
  check_launch(what);
}
}  // namespace

void concat_elu(cudaStream_t s, DType t, const ConcatEluParams& p, const void* x, void* y) {
  launch_rows(t, p, "concat_elu", [&](auto z, unsigned grid) {
    using T = decltype(z);
    concat_elu_kernel<T><<<grid, kThreads, 0, s>>>(p, cp<T>(x), mp<T>(y));
  });
}

void concat_elu_backward(cudaStream_t s, DType t, const ConcatEluParams& p, const void* y, const void* g, void* dx) {
  launch_rows(t, p, "concat_elu_backward", [&](auto z, unsigned grid) {
    using T = decltype(z);
    concat_elu_backward_kernel<T><<<grid, kThreads, 0, s>>>(p, cp<T>(y), cp<T>(g), mp<T>(dx));
  });
}

void gated_residual(cudaStream_t s, DType t, const ConcatEluParams& p, const void* x, const void* h, void* y) {
  launch_rows(t, p, "gated_residual", [&](auto z, unsigned grid) {
    using T = decltype(z);
    gated_residual_kernel<T><<<grid, kThreads, 0, s>>>(p, cp<T>(x), cp<T>(h), mp<T>(y));
  });
}

void gated_residual_backward(cudaStream_t s, DType t, const ConcatEluParams& p, const void* h, const void* g,
                             void* dh) {
  launch_rows(t, p, "gated_residual_backward", [&](auto z, unsigned grid) {
    using T = decltype(z);
    gated_residual_backward_kernel<T><<<grid, kThreads, 0, s>>>(p, cp<T>(h), cp<T>(g), mp<T>(dh));
  });
}

}  // namespace fg::cuda
