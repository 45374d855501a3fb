// CUDA fused activations on x viewed as [outer, C, inner] (ConcatEluParams), the formulas of
// tensor/cpu/activation.cpp: ConcatELU y = [elu(x), elu(-x)] and its backward from y; GatedConv's
// residual y = x + a * sigmoid(b), [a, b] = chunk(h, 2, 1), and its backward from h. One thread per
// element of the [outer, C, inner] half. (A channel-blocked [outer, C/b, inner, b] tensor has the
// same halves, so the gated residual serves the blocked layer norm as it is.)
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
