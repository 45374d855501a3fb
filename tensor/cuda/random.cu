// CUDA random fills from the Philox stream of flowgrad/tensor/random.h, with the CPU's element-to-counter
// map (tensor/cpu/random.cpp): uniform draws are bit-identical to the CPU's; normal draws use the
// device's log/sin/cos and agree to a few ulps.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"
#include "tensor/uniform_at.h"

namespace fg::cuda {

namespace {

template <class T>
__global__ void uniform_kernel(T* out, int64_t n, double lo, double hi, uint64_t seed, uint64_t offset) {
  FG_GRID_STRIDE(i, n) out[i] = uniform_at<T>(i, lo, hi, seed, offset);
}

template <class T>
__global__ void normal_kernel(T* out, int64_t n, double mean, double std, uint64_t seed, uint64_t offset) {
  FG_GRID_STRIDE(i, n) {
    Philox4 r = philox(seed, offset + static_cast<uint64_t>(i / 4));
    const int lane = static_cast<int>(i % 4), pair = lane / 2;
    const double u1 = (r.v[2 * pair] + 1.0) * (1.0 / 4294967296.0);
    const double u2 = r.v[2 * pair + 1] * (1.0 / 4294967296.0);
    const double rad = sqrt(-2.0 * log(u1));
    const double th = 6.283185307179586 * u2;
    const double z = (lane % 2 == 0) ? rad * cos(th) : rad * sin(th);
    out[i] = static_cast<T>(mean + std * z);
  }
}

}  // namespace

void CudaBackend::random_uniform(Tensor& o, double lo, double hi, uint64_t seed, uint64_t offset) {
  const int64_t n = o.numel();
  if (n == 0) return;
  activate();
  dispatch_float(o.dtype(), "rand", [&](auto z) {
    using T = decltype(z);
    uniform_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(ptr<T>(o), n, lo, hi, seed, offset);
  });
  check_launch(stream_, "random_uniform");
}

void CudaBackend::random_normal(Tensor& o, double mean, double std, uint64_t seed, uint64_t offset) {
  const int64_t n = o.numel();
  if (n == 0) return;
  activate();
  dispatch_float(o.dtype(), "randn", [&](auto z) {
    using T = decltype(z);
    normal_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(ptr<T>(o), n, mean, std, seed, offset);
  });
  check_launch(stream_, "random_normal");
}

}  // namespace fg::cuda
