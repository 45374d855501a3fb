// Glow's sigmoid-scaled affine coupling (SigmoidCouplingParams), the formulas of
// tensor/cpu/coupling.cpp: forward one block per sample (its logdet a block sum in double, in a
// fixed order), backward one thread per element of z.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

// s = sigmoid(r), c = 1 - s and l = log s from e = exp(-|r|)
template <class T>
__device__ __forceinline__ void sigmoid_parts(T r, T& s, T& c, T& l) {
  const T e = exp(r < T(0) ? r : -r), inv = T(1) / (T(1) + e);
  s = r >= T(0) ? inv : e * inv;
  c = r >= T(0) ? e * inv : inv;
  l = (r < T(0) ? r : T(0)) - log1p(e);
}

template <class T>
__global__ void forward_kernel(SigmoidCouplingParams p, const T* z, const T* h, T* y, T* logdet) {
  __shared__ double shared[32];
  const int64_t n = blockIdx.x, cb = p.C - p.ca, plane = p.C * p.S;
  const T shift = static_cast<T>(p.shift);
  double acc = 0;
  for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) {
    const int64_t c = i / p.S, x = i % p.S, q = n * plane + i;
    if (c < p.ca) {
      y[q] = z[q];
      continue;
    }
    const int64_t hq = (n * 2 * cb + 2 * (c - p.ca)) * p.S + x;
    T s, cm, l;
    sigmoid_parts(h[hq + p.S] + shift, s, cm, l);
    y[q] = p.reverse ? z[q] / s - h[hq] : (z[q] + h[hq]) * s;
    acc += static_cast<double>(l);
  }
  const double total = block_reduce(acc, shared, SumOp{});
  if (threadIdx.x == 0) logdet[n] = static_cast<T>(total);
}

template <class T>
__global__ void backward_kernel(SigmoidCouplingParams p, const T* z, const T* h, const T* gy, const T* gl, T* dz,
                                T* dh) {
  const int64_t cb = p.C - p.ca, plane = p.C * p.S, total = p.N * plane;
  const T shift = static_cast<T>(p.shift);
  FG_GRID_STRIDE(q, total) {
    const int64_t n = q / plane, c = (q % plane) / p.S, x = q % p.S;
    if (c < p.ca) {
      dz[q] = gy[q];
      continue;
    }
    const int64_t hq = (n * 2 * cb + 2 * (c - p.ca)) * p.S + x;
    T s, cm, l;
    sigmoid_parts(h[hq + p.S] + shift, s, cm, l);
    if (p.reverse) {
      const T g = gy[q] / s;
      dz[q] = g;
      dh[hq] = -gy[q];
      dh[hq + p.S] = -g * z[q] * cm + gl[n] * cm;
    } else {
      const T g = gy[q] * s;
      dz[q] = g;
      dh[hq] = g;
      dh[hq + p.S] = (g * (z[q] + h[hq]) + gl[n]) * cm;
    }
  }
}

}  // namespace

// y, logdet [N] from z, h
void CudaBackend::sigmoid_coupling(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h, Tensor& y,
                                   Tensor& logdet) {
  if (p.N == 0) return;
  activate();
  dispatch_float(z.dtype(), "sigmoid_coupling", [&](auto v) {
    using T = decltype(v);
    forward_kernel<T><<<static_cast<unsigned>(p.N), kThreads, 0, stream_>>>(p, ptr<T>(z), ptr<T>(h), ptr<T>(y),
                                                                             ptr<T>(logdet));
  });
  check_launch(stream_, "sigmoid_coupling");
}

// dz, dh from gy and glogdet (zeros where an output got no gradient)
void CudaBackend::sigmoid_coupling_backward(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h,
                                            const Tensor& gy, const Tensor& glogdet, Tensor& dz, Tensor& dh) {
  const int64_t n = p.N * p.C * p.S;
  if (n == 0) return;
  activate();
  dispatch_float(z.dtype(), "sigmoid_coupling_backward", [&](auto v) {
    using T = decltype(v);
    backward_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, ptr<T>(z), ptr<T>(h), ptr<T>(gy), ptr<T>(glogdet),
                                                              ptr<T>(dz), ptr<T>(dh));
  });
  check_launch(stream_, "sigmoid_coupling_backward");
}

}  // namespace fg::cuda
