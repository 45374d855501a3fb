// CUDA reductions of a strided input into a contiguous output (ReduceParams). Two shapes of work:
// when the innermost reduced dim is unit-stride, one block per output walks it with coalesced
// reads; otherwise (reducing over outer dims, e.g. a bias gradient over the batch) one thread per
// output, so neighbouring threads read neighbouring addresses. Accumulation is in double and the
// order is fixed by the launch shape; logsumexp subtracts the max first.
#include <cmath>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

constexpr int kReduceThreads = 256;

__device__ __forceinline__ int64_t kept_offset(const ReduceParams& p, int64_t o) {
  int64_t off = 0;
  for (int64_t d = p.out_rank - 1; d >= 0; --d) {
    off += (o % p.out_shape[d]) * p.in_strides[d];
    o /= p.out_shape[d];
  }
  return off;
}

__device__ __forceinline__ int64_t reduced_offset(const ReduceParams& p, int64_t j) {
  int64_t off = 0;
  for (int64_t d = p.red_rank - 1; d >= 0; --d) {
    off += (j % p.red_shape[d]) * p.red_strides[d];
    j /= p.red_shape[d];
  }
  return off;
}

__device__ __forceinline__ double neg_inf() { return __longlong_as_double(static_cast<long long>(0xfff0000000000000ull)); }
__device__ __forceinline__ double pos_inf() { return __longlong_as_double(0x7ff0000000000000ll); }

template <class T>
__device__ double finish(ReduceOp op, double acc, int64_t R) {
  return op == ReduceOp::Mean ? acc / static_cast<double>(R) : acc;
}

// one thread per output
template <class T>
__global__ void reduce_thread_kernel(ReduceOp op, ReduceParams p, const T* x, T* out) {
  const int64_t outs = p.outputs(), R = p.reduced();
  FG_GRID_STRIDE(o, outs) {
    const T* base = x + kept_offset(p, o);
    double acc;
    if (op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::LogSumExp) {
      const bool mx = op != ReduceOp::Min;
      acc = mx ? neg_inf() : pos_inf();
      for (int64_t j = 0; j < R; ++j) {
        const double v = static_cast<double>(base[reduced_offset(p, j)]);
        acc = mx ? fmax(acc, v) : fmin(acc, v);
      }
      if (op == ReduceOp::LogSumExp && !isinf(acc)) {
        double s = 0;
        for (int64_t j = 0; j < R; ++j) s += exp(static_cast<double>(base[reduced_offset(p, j)]) - acc);
        acc += log(s);
      }
    } else {
      acc = 0;
      for (int64_t j = 0; j < R; ++j) acc += static_cast<double>(base[reduced_offset(p, j)]);
      acc = finish<T>(op, acc, R);
    }
    out[o] = static_cast<T>(acc);
  }
}

// one block per output
template <class T>
__global__ void reduce_block_kernel(ReduceOp op, ReduceParams p, const T* x, T* out) {
  __shared__ double shared[32];
  const int64_t outs = p.outputs(), R = p.reduced();
  for (int64_t o = blockIdx.x; o < outs; o += gridDim.x) {
    const T* base = x + kept_offset(p, o);
    double acc;
    if (op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::LogSumExp) {
      const bool mx = op != ReduceOp::Min;
      double m = mx ? neg_inf() : pos_inf();
      for (int64_t j = threadIdx.x; j < R; j += blockDim.x) {
        const double v = static_cast<double>(base[reduced_offset(p, j)]);
        m = mx ? fmax(m, v) : fmin(m, v);
      }
      acc = mx ? block_reduce(m, shared, MaxOp{}) : block_reduce(m, shared, MinOp{});
      if (op == ReduceOp::LogSumExp && !isinf(acc)) {
        double s = 0;
        for (int64_t j = threadIdx.x; j < R; j += blockDim.x) s += exp(static_cast<double>(base[reduced_offset(p, j)]) - acc);
        acc += log(block_reduce(s, shared, SumOp{}));
      }
    } else {
      double s = 0;
      for (int64_t j = threadIdx.x; j < R; j += blockDim.x) s += static_cast<double>(base[reduced_offset(p, j)]);
      acc = finish<T>(op, block_reduce(s, shared, SumOp{}), R);
    }
    if (threadIdx.x == 0) out[o] = static_cast<T>(acc);
  }
}

}  // namespace

// out (contiguous, p.outputs() elements) from strided x
void CudaBackend::reduce(ReduceOp op, const ReduceParams& p, const Tensor& x, Tensor& o) {
  const int64_t outs = p.outputs(), R = p.reduced();
  if (outs == 0) return;
  activate();
  // a block per output pays when the reduced run is contiguous and long, or when there are too few
  // outputs to fill the device with one thread each
  const bool inner_contiguous = p.red_rank > 0 && p.red_strides[p.red_rank - 1] == 1;
  const bool per_block = R >= 64 && (inner_contiguous || outs < 4096);
  dispatch_float(x.dtype(), "reduce", [&](auto z) {
    using T = decltype(z);
    if (per_block) {
      const unsigned grid = static_cast<unsigned>(outs < 65535 ? outs : 65535);
      reduce_block_kernel<T><<<grid, kReduceThreads, 0, stream_>>>(op, p, ptr<T>(x), ptr<T>(o));
    } else {
      reduce_thread_kernel<T><<<grid_for(outs), kThreads, 0, stream_>>>(op, p, ptr<T>(x), ptr<T>(o));
    }
  });
  check_launch(stream_, "reduce");
}

}  // namespace fg::cuda
