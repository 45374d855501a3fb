// Device-side helpers shared by the .cu files: grid sizing, the strided offsets of an
// ElementwiseParams walk, loads of a scalar of any dtype, and warp/block sums in a fixed order (so
// a result does not depend on scheduling). (The host's dtype dispatch is tensor/dispatch.h.)
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "flowgrad/tensor/dtype.h"
#include "flowgrad/detail/params.h"

namespace fg::cuda {

// CUDA's math functions by their plain names in kernels: inside namespace fg, the op API's
// fg::exp(const Tensor&) and the like would hide them.
using ::cos, ::erf, ::exp, ::expm1, ::fabs, ::floor, ::fmax, ::fmin, ::log, ::log1p, ::pow, ::sin, ::sqrt, ::tanh;

constexpr int kThreads = 256;

// e^x for x <= 0, which elementwise_math.inc's sigmoid takes (the CPU has a cheaper one than its
// exp; here it is CUDA's exp)
template <class T>
__device__ __forceinline__ T exp_nonpos(T x) {
  return exp(x);
}

inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > (1 << 20)) b = 1 << 20;  // grid-stride loops cover the rest
  return static_cast<unsigned>(b);
}

// Element offsets of linear index i in each of the K operands.
template <int K>
__device__ __forceinline__ void offsets_of(const ElementwiseParams& e, int64_t i, int64_t (&off)[K]) {
  if (e.rank == 1) {
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = i * e.strides[k][0];
    return;
  }
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int64_t d = e.rank - 1; d >= 0; --d) {
    const int64_t n = e.shape[d], idx = i % n;
    i /= n;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += idx * e.strides[k][d];
  }
}

#define FG_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

__device__ __forceinline__ double load_as_double(const void* p, DType t) {
  switch (t) {
    case DType::F32: return *static_cast<const float*>(p);
    case DType::F64: return *static_cast<const double*>(p);
    case DType::I32: return *static_cast<const int32_t*>(p);
    case DType::U8: return *static_cast<const uint8_t*>(p);
  }
  return 0;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
// Block-wide reduction with `op` (sum/max/min of doubles); every thread gets the result. blockDim.x
// must be a multiple of 32 and at most 1024. `shared` holds 32 doubles.
template <class Op>
__device__ double block_reduce(double v, double* shared, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < warps ? shared[lane] : op.identity();
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) w = op(w, __shfl_down_sync(0xffffffffu, w, o));
    if (lane == 0) shared[0] = w;
  }
  __syncthreads();
  return shared[0];
}

struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
  __device__ double identity() const { return 0.0; }
};
struct MaxOp {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
  __device__ double identity() const { return __longlong_as_double(static_cast<long long>(0xfff0000000000000ull)); }
};
struct MinOp {
  __device__ double operator()(double a, double b) const { return fmin(a, b); }
  __device__ double identity() const { return __longlong_as_double(0x7ff0000000000000ll); }
};

}  // namespace fg::cuda
