// CUDA elementwise kernels, generated from the same table as the CPU's (flowgrad/detail/elementwise.def):
// unary and binary forward, their fused backward, comparisons, where, cast, copy, fill and row
// gathers. Operands are strided views walked through ElementwiseParams (tensor/geometry.cpp); one
// thread per output element in a grid-stride loop. An index outside [0, rows) in gather_rows gives
// a row of zero bytes (a kernel cannot report it without a sync).
#include <algorithm>
#include <cstdint>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

#define FG_HD __device__
#include "tensor/elementwise_math.inc"
#undef FG_HD

#define FG_UNARY(Name, fn, np, saves, fwd, bwd, ...)                                    \
  struct Name##Fn {                                                                     \
    template <class T> __device__ __forceinline__ T operator()(T x, const UnaryParams& p) const { \
      (void)p;                                                                          \
      return fwd;                                                                       \
    }                                                                                   \
    template <class T> __device__ __forceinline__ T backward(T g, T x, T y, const UnaryParams& p) const { \
      (void)g, (void)x, (void)y, (void)p;                                               \
      return bwd;                                                                       \
    }                                                                                   \
  };
#define FG_BINARY(Name, fn, saves, fwd, ga, gb, ...)                                    \
  struct Name##Fn {                                                                     \
    template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return fwd; } \
    template <class T> __device__ __forceinline__ T grad_a(T g, T a, T b) const {       \
      (void)g, (void)a, (void)b;                                                        \
      return ga;                                                                        \
    }                                                                                   \
    template <class T> __device__ __forceinline__ T grad_b(T g, T a, T b) const {       \
      (void)g, (void)a, (void)b;                                                        \
      return gb;                                                                        \
    }                                                                                   \
  };
#define FG_COMPARE(Name, fn, fwd)                                                       \
  struct Name##Fn {                                                                     \
    template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return fwd; } \
  };
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef FG_COMPARE

template <class T>
__global__ void fill_kernel(T* out, int64_t n, T v) {
  FG_GRID_STRIDE(i, n) out[i] = v;
}

template <class E>
__global__ void copy_kernel(ElementwiseParams e, const E* src, E* dst) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[2];
    offsets_of<2>(e, i, off);
    dst[off[0]] = src[off[1]];
  }
}

template <class I, class O>
__global__ void cast_kernel(ElementwiseParams e, const I* x, O* out) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[2];
    offsets_of<2>(e, i, off);
    out[off[0]] = static_cast<O>(x[off[1]]);
  }
}

template <class T, class Fn>
__global__ void unary_kernel(ElementwiseParams e, UnaryParams p, const T* x, T* out, Fn fn) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[2];
    offsets_of<2>(e, i, off);
    out[off[0]] = fn(x[off[1]], p);
  }
}

template <class T, class Fn>
__global__ void unary_backward_kernel(ElementwiseParams e, UnaryParams p, const T* x, const T* y, const T* g, T* dx,
                                      Fn fn) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[4];
    offsets_of<4>(e, i, off);
    dx[off[0]] = fn.backward(g[off[1]], x[off[2]], y[off[3]], p);
  }
}

template <class T, class Fn>
__global__ void binary_kernel(ElementwiseParams e, const T* a, const T* b, T* out, Fn fn) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[3];
    offsets_of<3>(e, i, off);
    out[off[0]] = fn(a[off[1]], b[off[2]]);
  }
}

template <class T, bool WantA, bool WantB, class Fn>
__global__ void binary_backward_kernel(ElementwiseParams e, const T* a, const T* b, const T* g, T* da, T* db, Fn fn) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[5];
    offsets_of<5>(e, i, off);
    const T gv = g[off[2]], av = a[off[3]], bv = b[off[4]];
    if constexpr (WantA) da[off[0]] = fn.grad_a(gv, av, bv);
    if constexpr (WantB) db[off[1]] = fn.grad_b(gv, av, bv);
  }
}

template <class T, class C>
__global__ void where_kernel(ElementwiseParams e, const C* cond, const T* a, const T* b, T* out) {
  const int64_t n = e.numel();
  FG_GRID_STRIDE(i, n) {
    int64_t off[4];
    offsets_of<4>(e, i, off);
    out[off[0]] = cond[off[1]] != C(0) ? a[off[2]] : b[off[3]];
  }
}

// one thread per 4-byte word of the output (row_bytes is a multiple of the element size; rows of
// 1- or 2-byte elements whose size is not a multiple of 4 take the byte path)
template <class W>
__global__ void gather_kernel(const W* x, int64_t rows, int64_t row_words, const int32_t* index, int64_t n, W* out) {
  const int64_t total = n * row_words;
  FG_GRID_STRIDE(i, total) {
    const int64_t r = i / row_words, w = i % row_words;
    const int32_t src = index[r];
    out[i] = (src >= 0 && src < rows) ? x[src * row_words + w] : W(0);
  }
}

}  // namespace

void CudaBackend::fill(Tensor& o, double value) {
  const int64_t n = o.numel();
  if (n == 0) return;
  activate();
  dispatch_all(o.dtype(), [&](auto z) {
    using T = decltype(z);
    fill_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(ptr<T>(o), n, static_cast<T>(value));
  });
  check_launch(stream_, "fill");
}

void CudaBackend::copy(const ElementwiseParams& e, const Tensor& src, Tensor& dst) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  const size_t bytes = dtype_size(src.dtype());
  const unsigned grid = grid_for(n);
  if (bytes == 1) copy_kernel<uint8_t><<<grid, kThreads, 0, stream_>>>(e, ptr<uint8_t>(src), ptr<uint8_t>(dst));
  else if (bytes == 4) copy_kernel<uint32_t><<<grid, kThreads, 0, stream_>>>(e, ptr<uint32_t>(src), ptr<uint32_t>(dst));
  else copy_kernel<uint64_t><<<grid, kThreads, 0, stream_>>>(e, ptr<uint64_t>(src), ptr<uint64_t>(dst));
  check_launch(stream_, "copy");
}

void CudaBackend::cast(const ElementwiseParams& e, const Tensor& x, Tensor& o) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  dispatch_all(x.dtype(), [&](auto zi) {
    using I = decltype(zi);
    dispatch_all(o.dtype(), [&](auto zo) {
      using O = decltype(zo);
      cast_kernel<I, O><<<grid_for(n), kThreads, 0, stream_>>>(e, ptr<I>(x), ptr<O>(o));
    });
  });
  check_launch(stream_, "cast");
}

void CudaBackend::unary(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x, Tensor& o) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  dispatch_float(x.dtype(), unary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_UNARY(Name, ...)                                                                         \
  case UnaryOp::Name:                                                                               \
    unary_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(e, p, ptr<T>(x), ptr<T>(o), Name##Fn{}); \
    break;
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
    }
  });
  check_launch(stream_, "unary");
}

// operands of e: dx, g, x, y
void CudaBackend::unary_backward(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x,
                                 const Tensor& y, const Tensor& g, Tensor& dx) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  dispatch_float(g.dtype(), unary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_UNARY(Name, ...)                                                                                \
  case UnaryOp::Name:                                                                                      \
    unary_backward_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(e, p, ptr<T>(x), ptr<T>(y), ptr<T>(g), \
                                                                    ptr<T>(dx), Name##Fn{});               \
    break;
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
    }
  });
  check_launch(stream_, "unary_backward");
}

void CudaBackend::binary(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b, Tensor& o) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  dispatch_float(a.dtype(), binary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_BINARY(Name, ...)                                                                                  \
  case BinaryOp::Name:                                                                                        \
    binary_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(e, ptr<T>(a), ptr<T>(b), ptr<T>(o), Name##Fn{}); \
    break;
#define FG_COMPARE(Name, ...) FG_BINARY(Name)
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
#undef FG_COMPARE
    }
  });
  check_launch(stream_, "binary");
}

// operands of e: da, db, g, a, b; da or db may be null (not wanted)
void CudaBackend::binary_backward(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b,
                                  const Tensor& g, Tensor* da, Tensor* db) {
  FG_CHECK(static_cast<int>(op) < kNumDiffBinaryOps, "{}: comparisons have no gradient", binary_name(op));
  const int64_t n = e.numel();
  if (n == 0 || (!da && !db)) return;
  activate();
  auto run = [&](auto fn) {
    dispatch_float(g.dtype(), binary_name(op), [&](auto z) {
      using T = decltype(z);
      const unsigned grid = grid_for(n);
      if (da && db)
        binary_backward_kernel<T, true, true><<<grid, kThreads, 0, stream_>>>(e, ptr<T>(a), ptr<T>(b), ptr<T>(g),
                                                                              ptr<T>(da), ptr<T>(db), fn);
      else if (da)
        binary_backward_kernel<T, true, false><<<grid, kThreads, 0, stream_>>>(e, ptr<T>(a), ptr<T>(b), ptr<T>(g),
                                                                               ptr<T>(da), nullptr, fn);
      else
        binary_backward_kernel<T, false, true><<<grid, kThreads, 0, stream_>>>(e, ptr<T>(a), ptr<T>(b), ptr<T>(g),
                                                                               nullptr, ptr<T>(db), fn);
    });
  };
  switch (op) {
#define FG_BINARY(Name, ...) \
  case BinaryOp::Name: run(Name##Fn{}); break;
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
    default: break;  // comparisons: refused above
  }
  check_launch(stream_, "binary_backward");
}

void CudaBackend::where(const ElementwiseParams& e, const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& o) {
  const int64_t n = e.numel();
  if (n == 0) return;
  activate();
  dispatch_float(a.dtype(), "where", [&](auto z) {
    using T = decltype(z);
    dispatch_all(cond.dtype(), [&](auto zc) {
      using C = decltype(zc);
      where_kernel<T, C><<<grid_for(n), kThreads, 0, stream_>>>(e, ptr<C>(cond), ptr<T>(a), ptr<T>(b), ptr<T>(o));
    });
  });
  check_launch(stream_, "where");
}

void CudaBackend::gather_rows(const Tensor& x, const Tensor& index, Tensor& o) {
  FG_CHECK(index.dtype() == DType::I32, "gather_rows: index must be i32, got {}", dtype_name(index.dtype()));
  const int64_t rows = x.size(0), n = index.numel();
  const int64_t row_bytes = static_cast<int64_t>(x.nbytes()) / std::max<int64_t>(rows, 1);
  if (n == 0 || row_bytes == 0) return;
  activate();
  // words when every row starts on a 4-byte boundary (a u8 view may start anywhere)
  const bool aligned = reinterpret_cast<uintptr_t>(x.raw()) % 4 == 0 && reinterpret_cast<uintptr_t>(o.raw()) % 4 == 0;
  const int32_t* idx = ptr<int32_t>(index);
  if (row_bytes % 4 == 0 && aligned) {
    const int64_t w = row_bytes / 4;
    gather_kernel<uint32_t><<<grid_for(n * w), kThreads, 0, stream_>>>(ptr<uint32_t>(x), rows, w, idx, n,
                                                                       ptr<uint32_t>(o));
  } else {
    gather_kernel<uint8_t><<<grid_for(n * row_bytes), kThreads, 0, stream_>>>(ptr<uint8_t>(x), rows, row_bytes, idx,
                                                                              n, ptr<uint8_t>(o));
  }
  check_launch(stream_, "gather_rows");
}

}  // namespace fg::cuda
