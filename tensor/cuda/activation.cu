// CUDA fused activations on x viewed as [outer, C, inner] (ConcatEluParams), the formulas of
// tensor/cpu/activation.cpp: ConcatELU y = [elu(x), elu(-x)] and its backward from y; GatedConv's
// residual y = x + a * sigmoid(b), [a, b] = chunk(h, 2, 1), and its backward from h. One thread per
// element of the [outer, C, inner] half. (A channel-blocked [outer, C/b, inner, b] tensor has the
// same halves, so the gated residual serves the blocked layer norm as it is.) LipSwish and its
// tangent, one thread per element; its backward sums gbeta per block, then the blocks' partials in
// a fixed order (no atomics: the same sum every run).
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

#define FG_HD __device__
#include "tensor/elementwise_math.inc"
#undef FG_HD

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

template <class T>
__global__ void lipswish_kernel(int64_t n, const T* x, const T* dx, const T* beta, T* y, T* dy) {
  const T b = *beta;
  FG_GRID_STRIDE(i, n) {
    const LipSwishAt<T> f = lipswish_at(x[i], b);
    y[i] = f.y;
    if (dy) dy[i] = f.slope * dx[i];
  }
}

template <class T>
__global__ void lipswish_backward_kernel(int64_t n, const T* x, const T* dx, const T* beta, const T* gy, const T* gdy,
                                         T* gx, T* gdx, double* partial) {
  __shared__ double shared[32];
  const T b = *beta;
  double acc = 0;
  FG_GRID_STRIDE(i, n) {
    const LipSwishAt<T> f = lipswish_at(x[i], b);
    const T a = gy ? gy[i] : T(0), c = gdy ? gdy[i] * dx[i] : T(0);
    gx[i] = a * f.slope + c * f.curve;
    if (gdx) gdx[i] = gdy[i] * f.slope;
    acc += static_cast<double>(a * f.y_beta + c * f.slope_beta);
  }
  acc = block_reduce(acc, shared, SumOp{});
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// *out = the blocks' partials summed by one block in a fixed order
template <class T>
__global__ void sum_partials_kernel(const double* partial, int64_t n, T* out) {
  __shared__ double shared[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_reduce(s, shared, SumOp{});
  if (threadIdx.x == 0) *out = static_cast<T>(s);
}

// One thread per element of the [outer, C, inner] half: launch(T{}, grid) for the dtype t.
template <class F>
void launch_half(DType t, const ConcatEluParams& p, const char* what, F launch) {
  const int64_t n = p.outer * p.C * p.inner;
  if (n == 0) return;
  dispatch_float(t, what, [&](auto z) { launch(z, grid_for(n)); });
}

}  // namespace

void CudaBackend::concat_elu(const ConcatEluParams& p, const Tensor& x, Tensor& y) {
  activate();
  launch_half(x.dtype(), p, "concat_elu", [&](auto z, unsigned grid) {
    using T = decltype(z);
    concat_elu_kernel<T><<<grid, kThreads, 0, stream_>>>(p, ptr<T>(x), ptr<T>(y));
    check_launch(stream_, "concat_elu");
  });
}

void CudaBackend::concat_elu_backward(const ConcatEluParams& p, const Tensor& y, const Tensor& g, Tensor& dx) {
  activate();
  launch_half(y.dtype(), p, "concat_elu_backward", [&](auto z, unsigned grid) {
    using T = decltype(z);
    concat_elu_backward_kernel<T><<<grid, kThreads, 0, stream_>>>(p, ptr<T>(y), ptr<T>(g), ptr<T>(dx));
    check_launch(stream_, "concat_elu_backward");
  });
}

void CudaBackend::lipswish(const Tensor& x, const Tensor* dx, const Tensor& beta, Tensor& y, Tensor* dy) {
  activate();
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "lipswish", [&](auto z) {
    using T = decltype(z);
    lipswish_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(n, ptr<T>(x), ptr<T>(dx), ptr<T>(beta), ptr<T>(y),
                                                              ptr<T>(dy));
    check_launch(stream_, "lipswish");
  });
}

void CudaBackend::lipswish_backward(const Tensor& x, const Tensor* dx, const Tensor& beta, const Tensor* gy,
                                    const Tensor* gdy, Tensor& gx, Tensor* gdx, Tensor& gbeta) {
  activate();
  const int64_t n = x.numel();
  const unsigned blocks = n == 0 ? 1 : grid_for(n);
  Scratch scratch(*this, blocks * sizeof(double));
  double* partial = static_cast<double*>(scratch.get());
  dispatch_float(x.dtype(), "lipswish_backward", [&](auto z) {
    using T = decltype(z);
    lipswish_backward_kernel<T><<<blocks, kThreads, 0, stream_>>>(n, ptr<T>(x), ptr<T>(dx), ptr<T>(beta), ptr<T>(gy),
                                                                   ptr<T>(gdy), ptr<T>(gx), ptr<T>(gdx), partial);
    check_launch(stream_, "lipswish_backward");
    sum_partials_kernel<T><<<1, kThreads, 0, stream_>>>(partial, blocks, ptr<T>(gbeta));
    check_launch(stream_, "lipswish_backward (sum)");
  });
}

void CudaBackend::gated_residual(const ConcatEluParams& p, const Tensor& x, const Tensor& h, Tensor& y) {
  activate();
  launch_half(x.dtype(), p, "gated_residual", [&](auto z, unsigned grid) {
    using T = decltype(z);
    gated_residual_kernel<T><<<grid, kThreads, 0, stream_>>>(p, ptr<T>(x), ptr<T>(h), ptr<T>(y));
    check_launch(stream_, "gated_residual");
  });
}

void CudaBackend::gated_residual_backward(const ConcatEluParams& p, const Tensor& h, const Tensor& g, Tensor& dh) {
  activate();
  launch_half(h.dtype(), p, "gated_residual_backward", [&](auto z, unsigned grid) {
    using T = decltype(z);
    gated_residual_backward_kernel<T><<<grid, kThreads, 0, stream_>>>(p, ptr<T>(h), ptr<T>(g), ptr<T>(dh));
    check_launch(stream_, "gated_residual_backward");
  });
}

}  // namespace fg::cuda
