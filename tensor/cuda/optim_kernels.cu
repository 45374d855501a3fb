// CUDA multi-tensor kernels for a training step (the CPU's tensor/cpu/optim_kernels.cpp): sum of
// squares for global-norm clipping, scaling by a device scalar, and torch 1.13's Adam update. A
// launch takes up to kList tensors in its arguments; block (x, y) works on chunk x of tensor y, so
// one launch covers every parameter of a flow model and nothing is uploaded. Consecutive tensors
// of one dtype (f32 or f64) share a launch.
#include <algorithm>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

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
  const bool decay = p.weight_decay != 0 && p.decoupled == 0;
  const T shrink = T(p.decoupled != 0 ? 1 - p.lr * p.weight_decay : 1);
  T* w = static_cast<T*>(l.w[t]);
  const T* g = static_cast<const T*>(l.g[t]);
  T* m = static_cast<T*>(l.m[t]);
  T* v = static_cast<T*>(l.v[t]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    w[i] = w[i] * shrink;
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

// [from, end): at most kList consecutive tensors of one dtype, the tensors of one launch
size_t group_end(const std::vector<const Tensor*>& xs, size_t from) {
  size_t to = from + 1;
  while (to < xs.size() && to - from < static_cast<size_t>(kList) && xs[to]->dtype() == xs[from]->dtype()) ++to;
  return to;
}

int64_t max_chunks(const std::vector<const Tensor*>& xs, size_t from, size_t to) {
  int64_t c = 1;
  for (size_t i = from; i < to; ++i) c = std::max(c, (xs[i]->numel() + kChunk - 1) / kChunk);
  return c;
}

}  // namespace

void CudaBackend::sum_of_squares(const std::vector<const Tensor*>& xs, Tensor& o) {
  FG_CHECK(o.dtype() == DType::F64, "sum_of_squares: the result must be f64");
  activate();
  size_t partials = 0;  // one double per (tensor, chunk) of each launch
  for (size_t from = 0, to; from < xs.size(); from = to) {
    to = group_end(xs, from);
    partials += static_cast<size_t>(max_chunks(xs, from, to)) * (to - from);
  }
  Scratch scratch(*this, partials * sizeof(double));
  double* partial = static_cast<double*>(scratch.get());
  int64_t used = 0;
  for (size_t from = 0, to; from < xs.size(); from = to) {
    to = group_end(xs, from);
    List1 l{};
    for (size_t i = from; i < to; ++i) {
      l.x[i - from] = xs[i]->raw();
      l.n[i - from] = xs[i]->numel();
    }
    const int64_t chunks = max_chunks(xs, from, to);
    dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(to - from));
    dispatch_float(xs[from]->dtype(), "sum_of_squares", [&](auto z) {
      using T = decltype(z);
      sumsq_kernel<T><<<grid, kThreads, 0, stream_>>>(l, chunks, partial + used);
    });
    used += chunks * static_cast<int64_t>(to - from);
  }
  sum_partials_kernel<<<1, 1024, 0, stream_>>>(partial, used, ptr<double>(o));
  check_launch(stream_, "sum_of_squares");
}

void CudaBackend::scale_all(const std::vector<const Tensor*>& xs, const Tensor& factor,
                            const std::vector<Tensor*>& outs) {
  activate();
  for (size_t from = 0, to; from < xs.size(); from = to) {
    to = group_end(xs, from);
    List2 l{};
    for (size_t i = from; i < to; ++i) {
      l.x[i - from] = xs[i]->raw();
      l.y[i - from] = outs[i]->raw();
      l.n[i - from] = xs[i]->numel();
    }
    dim3 grid(static_cast<unsigned>(max_chunks(xs, from, to)), static_cast<unsigned>(to - from));
    dispatch_float(xs[from]->dtype(), "scale_all", [&](auto z) {
      using T = decltype(z);
      scale_kernel<T><<<grid, kThreads, 0, stream_>>>(l, factor.raw(), factor.dtype());
    });
  }
  check_launch(stream_, "scale_all");
}

// step: one f64 (the count before this step, incremented by the last launch); skip: one element,
// or null
void CudaBackend::adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip) {
  const std::vector<const Tensor*> ps(t.params.begin(), t.params.end());
  const void* skip_p = skip ? skip->raw() : nullptr;
  const DType skip_t = skip ? skip->dtype() : DType::F32;
  activate();
  for (size_t from = 0, to; from < ps.size(); from = to) {
    to = group_end(ps, from);
    List4 l{};
    for (size_t i = from; i < to; ++i) {
      l.w[i - from] = t.params[i]->raw();
      l.g[i - from] = t.grads[i]->raw();
      l.m[i - from] = t.exp_avg[i]->raw();
      l.v[i - from] = t.exp_avg_sq[i]->raw();
      l.n[i - from] = t.params[i]->numel();
    }
    dim3 grid(static_cast<unsigned>(max_chunks(ps, from, to)), static_cast<unsigned>(to - from));
    dispatch_float(ps[from]->dtype(), "adam_step", [&](auto z) {
      using T = decltype(z);
      adam_kernel<T><<<grid, kThreads, 0, stream_>>>(l, p, ptr<double>(step), skip_p, skip_t);
    });
  }
  adam_count_kernel<<<1, 1, 0, stream_>>>(ptr<double>(step), skip_p, skip_t);
  check_launch(stream_, "adam_step");
}

}  // namespace fg::cuda
