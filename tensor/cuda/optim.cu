// CUDA multi-tensor kernels for a training step (the CPU's tensor/cpu/optim_kernels.cpp): sum of
// squares for global-norm clipping, scaling by a device scalar, and torch 1.13's Adam update. A
// launch takes up to kList tensors in its arguments; block (x, y) works on chunk x of tensor y, so
// one launch covers every parameter of a flow model and nothing is uploaded.
#include <algorithm>

#include "tensor/cuda/device.cuh"
#include "tensor/cuda/kernels.h"

namespace fg::cuda {

namespace {

constexpr int kList = 48;          // tensors per launch (the argument block stays under 4 KiB)
constexpr int64_t kChunk = 16384;  // elements per block

struct List1 {
  const void* x[kList];
  int64_t n[kList];
};
struct List2 {
  const void* x[kList];
  void* y[kList];
  int64_t n[kList];
};
struct List4 {
  void* w[kList];
  const void* g[kList];
  void* m[kList];
  void* v[kList];
  int64_t n[kList];
};

int64_t max_chunks(const std::vector<int64_t>& numel, size_t from, size_t to) {
  int64_t c = 1;
  for (size_t i = from; i < to; ++i) c = std::max(c, (numel[i] + kChunk - 1) / kChunk);
  return c;
}

// partial[(y * chunks + x)] = sum of squares of chunk x of tensor y (0 where there is none)
template <class T>
__global__ void sumsq_kernel(List1 l, int64_t chunks, double* partial) {
  __shared__ double shared[32];
  const int t = blockIdx.y;
  const int64_t n = l.n[t], begin = blockIdx.x * kChunk, end = min(n, begin + kChunk);
  const T* x = static_cast<const T*>(l.x[t]);
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double v = static_cast<double>(x[i]);
    s += v * v;
  }
  s = block_reduce(s, shared, SumOp{});
  if (threadIdx.x == 0) partial[t * chunks + blockIdx.x] = s;
}

// out = the partials summed by one block in a fixed order
__global__ void sum_partials_kernel(const double* partial, int64_t n, double* out) {
  __shared__ double shared[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_reduce(s, shared, SumOp{});
  if (threadIdx.x == 0) *out = s;
}

template <class T>
__global__ void scale_kernel(List2 l, const void* factor, DType factor_t) {
  const int t = blockIdx.y;
  const int64_t n = l.n[t], begin = blockIdx.x * kChunk, end = min(n, begin + kChunk);
  const T f = static_cast<T>(load_as_double(factor, factor_t));
  const T* x = static_cast<const T*>(l.x[t]);
  T* y = static_cast<T*>(l.y[t]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) y[i] = x[i] * f;
}

template <class T>
__global__ void adam_kernel(List4 l, AdamParams p, const double* step, const void* skip, DType skip_t) {
  if (skip && load_as_double(skip, skip_t) != 0) return;
  const int t = blockIdx.y;
  const int64_t n = l.n[t], begin = blockIdx.x * kChunk, end = min(n, begin + kChunk);
  const double count = *step + 1;
  const double bc1 = 1.0 - pow(p.beta1, count), bc2 = 1.0 - pow(p.beta2, count);
  const T bc = T(sqrt(bc2)), neg_step = T(-p.lr / bc1);
  const T b1 = T(p.beta1), b2 = T(p.beta2), a1 = T(1 - p.beta1), a2 = T(1 - p.beta2), wd = T(p.weight_decay);
  const T eps = T(p.eps);
  const bool decay = p.weight_decay != 0;
  T* w = static_cast<T*>(l.w[t]);
  const T* g = static_cast<const T*>(l.g[t]);
  T* m = static_cast<T*>(l.m[t]);
  T* v = static_cast<T*>(l.v[t]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const T gi = decay ? g[i] + wd * w[i] : g[i];
    const T mi = m[i] * b1 + a1 * gi;
    const T vi = v[i] * b2 + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] + neg_step * (mi / (sqrt(vi) / bc + eps));
  }
}

// after every update launch of the step (same stream): the count moves on unless skipped
__global__ void adam_count_kernel(double* step, const void* skip, DType skip_t) {
  if (skip && load_as_double(skip, skip_t) != 0) return;
  *step += 1;
}

}  // namespace

// [from, end): at most kList consecutive tensors of one dtype, the tensors of one launch
static size_t group_end(const std::vector<DType>& types, size_t from) {
  size_t to = from + 1;
  while (to < types.size() && to - from < static_cast<size_t>(kList) && types[to] == types[from]) ++to;
  return to;
}

size_t sum_of_squares_scratch(const std::vector<DType>& types, const std::vector<int64_t>& numel) {
  size_t n = 0;
  for (size_t from = 0, to; from < numel.size(); from = to) {
    to = group_end(types, from);
    n += static_cast<size_t>(max_chunks(numel, from, to)) * (to - from);
  }
  return n;
}

void sum_of_squares(cudaStream_t s, const std::vector<DType>& types, const std::vector<const void*>& xs, const std::vector<int64_t>& numel,
                    double* scratch, double* out) {
  int64_t used = 0;
  for (size_t from = 0, to; from < xs.size(); from = to) {
    to = group_end(types, from);
    List1 l{};
    for (size_t i = from; i < to; ++i) {
      l.x[i - from] = xs[i];
      l.n[i - from] = numel[i];
    }
    const int64_t chunks = max_chunks(numel, from, to);
    dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(to - from));
    dispatch_float(types[from], [&](auto z) {
      using T = decltype(z);
      sumsq_kernel<T><<<grid, kThreads, 0, s>>>(l, chunks, scratch + used);
    });
    used += chunks * static_cast<int64_t>(to - from);
  }
  sum_partials_kernel<<<1, 1024, 0, s>>>(scratch, used, out);
  check_launch("sum_of_squares");
}

void scale_all(cudaStream_t s, const std::vector<DType>& types, const std::vector<const void*>& xs, const std::vector<int64_t>& numel,
               const void* factor, DType factor_t, const std::vector<void*>& out) {
  for (size_t from = 0, to; from < xs.size(); from = to) {
    to = group_end(types, from);
    List2 l{};
    for (size_t i = from; i < to; ++i) {
      l.x[i - from] = xs[i];
      l.y[i - from] = out[i];
      l.n[i - from] = numel[i];
    }
    dim3 grid(static_cast<unsigned>(max_chunks(numel, from, to)), static_cast<unsigned>(to - from));
    dispatch_float(types[from], [&](auto z) {
      using T = decltype(z);
      scale_kernel<T><<<grid, kThreads, 0, s>>>(l, factor, factor_t);
    });
  }
  check_launch("scale_all");
}

void adam_step(cudaStream_t s, const std::vector<DType>& types, const AdamParams& p, const std::vector<void*>& params,
               const std::vector<const void*>& grads, const std::vector<void*>& exp_avg,
               const std::vector<void*>& exp_avg_sq, const std::vector<int64_t>& numel, double* step,
               const void* skip, DType skip_t) {
  for (size_t from = 0, to; from < params.size(); from = to) {
    to = group_end(types, from);
    List4 l{};
    for (size_t i = from; i < to; ++i) {
      l.w[i - from] = params[i];
      l.g[i - from] = grads[i];
      l.m[i - from] = exp_avg[i];
      l.v[i - from] = exp_avg_sq[i];
      l.n[i - from] = numel[i];
    }
    dim3 grid(static_cast<unsigned>(max_chunks(numel, from, to)), static_cast<unsigned>(to - from));
    dispatch_float(types[from], [&](auto z) {
      using T = decltype(z);
      adam_kernel<T><<<grid, kThreads, 0, s>>>(l, p, step, skip, skip_t);
    });
  }
  adam_count_kernel<<<1, 1, 0, s>>>(step, skip, skip_t);
  check_launch("adam_step");
}

}  // namespace fg::cuda
