// CPU elementwise kernels: fill, cast, unary, binary and where, generated from elementwise.def.
// Inputs are contiguous and broadcast (NumPy rules) to the output's shape; the broadcast walk
// coalesces dims and runs the innermost dim as a strided loop.
#include <array>
#include <cmath>
#include <cstring>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu {

namespace {

using std::log, std::sqrt, std::tanh, std::log1p, std::floor, std::pow;

#define FG_UNARY(Name, expr)                                                 \
  struct Name##Fn {                                                          \
    template <class T> T operator()(T x, const UnaryParams& p) const {       \
      (void)p;                                                               \
      return expr;                                                           \
    }                                                                        \
  };
#define FG_BINARY(Name, expr)                                                \
  struct Name##Fn {                                                          \
    template <class T> T operator()(T a, T b) const { return expr; }         \
  };
#include "tensor/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY

// Strides (in elements) of a contiguous tensor of shape `in` broadcast to `out` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  auto cs = contiguous_strides(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

// Walks out's index space as rows of its last (coalesced) dim, calling f(out_offset, in_offsets, n, in_steps).
template <size_t K, class F>
void broadcast_walk(const Shape& out_shape, std::array<std::vector<int64_t>, K> st, F&& f) {
  // coalesce adjacent dims where every operand is contiguous across the pair
  Shape shape = out_shape;
  for (size_t i = shape.size(); i-- > 1;) {
    bool ok = true;
    for (auto& s : st) ok = ok && s[i - 1] == s[i] * shape[i];
    if (ok) {  // merge dim i-1 into dim i, which keeps the inner stride
      shape[i] *= shape[i - 1];
      shape.erase(shape.begin() + i - 1);
      for (auto& s : st) s.erase(s.begin() + i - 1);
    }
  }
  if (shape.empty()) {
    shape.push_back(1);
    for (auto& s : st) s.push_back(0);
  }
  size_t r = shape.size();
  int64_t inner = shape[r - 1], rows = numel(shape) / std::max<int64_t>(inner, 1);
  if (inner == 0) return;
  std::array<int64_t, K> step;
  for (size_t k = 0; k < K; ++k) step[k] = st[k][r - 1];
  // work items are pieces of at most kGrain elements of a row, so a few long rows (a fully
  // coalesced broadcast is one row) still spread over the threads
  int64_t pieces = (inner + kGrain - 1) / kGrain, piece_len = (inner + pieces - 1) / pieces;
  parallel_for(rows * pieces, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      int64_t row = item / pieces, start = (item % pieces) * piece_len;
      int64_t len = std::min(piece_len, inner - start);
      std::array<int64_t, K> off{};
      int64_t rem = row;
      for (size_t d = r - 1; d-- > 0;) {
        int64_t i = rem % shape[d];
        rem /= shape[d];
        for (size_t k = 0; k < K; ++k) off[k] += i * st[k][d];
      }
      for (size_t k = 0; k < K; ++k) off[k] += start * step[k];
      f(row * inner + start, off, len, step);
    }
  }, std::max<int64_t>(1, kGrain / std::min(inner, kGrain)));
}

template <class T, class Fn>
void binary_kernel(const Tensor& a, const Tensor& b, Tensor& out, Fn fn) {
  const T* pa = static_cast<const T*>(a.raw());
  const T* pb = static_cast<const T*>(b.raw());
  T* po = static_cast<T*>(out.raw());
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    parallel_for(out.numel(), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = fn(pa[i], pb[i]);
    });
    return;
  }
  using Strides = std::vector<int64_t>;
  broadcast_walk<2>(out.shape(), std::array<Strides, 2>{broadcast_strides(a.shape(), out.shape()), broadcast_strides(b.shape(), out.shape())},
                    [&](int64_t o, const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                      const T* x = pa + off[0];
                      const T* y = pb + off[1];
                      T* z = po + o;
                      if (step[0] == 1 && step[1] == 1) {
                        for (int64_t i = 0; i < n; ++i) z[i] = fn(x[i], y[i]);
                      } else if (step[0] == 1 && step[1] == 0) {
                        T yv = *y;
                        for (int64_t i = 0; i < n; ++i) z[i] = fn(x[i], yv);
                      } else if (step[0] == 0 && step[1] == 1) {
                        T xv = *x;
                        for (int64_t i = 0; i < n; ++i) z[i] = fn(xv, y[i]);
                      } else {
                        for (int64_t i = 0; i < n; ++i) z[i] = fn(x[i * step[0]], y[i * step[1]]);
                      }
                    });
}

template <class T, class Fn>
void unary_kernel(const Tensor& x, Tensor& out, const UnaryParams& p, Fn fn) {
  const T* px = static_cast<const T*>(x.raw());
  T* po = static_cast<T*>(out.raw());
  parallel_for(out.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = fn(px[i], p);
  });
}

template <class F>
void dispatch_float(DType t, const char* op, F&& f) {
  if (t == DType::F32) return f(float{});
  if (t == DType::F64) return f(double{});
  fail(fmt::format("{}: dtype {} is not supported (f32 and f64 are)", op, dtype_name(t)));
}

template <class F>
void dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::I32: return f(int32_t{});
    case DType::U8: return f(uint8_t{});
  }
}

}  // namespace

void CpuBackend::fill(Tensor& out, double v) {
  dispatch_all(out.dtype(), [&](auto z) {
    using T = decltype(z);
    T* p = static_cast<T*>(out.raw());
    T tv = static_cast<T>(v);
    parallel_for(out.numel(), [&](int64_t s, int64_t e) { std::fill(p + s, p + e, tv); });
  });
}

void CpuBackend::cast(const Tensor& x, Tensor& out) {
  dispatch_all(x.dtype(), [&](auto zi) {
    using I = decltype(zi);
    dispatch_all(out.dtype(), [&](auto zo) {
      using O = decltype(zo);
      const I* a = static_cast<const I*>(x.raw());
      O* b = static_cast<O*>(out.raw());
      parallel_for(x.numel(), [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) b[i] = static_cast<O>(a[i]);
      });
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, const UnaryParams& p) {
  dispatch_float(x.dtype(), unary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_UNARY(Name, expr) \
  case UnaryOp::Name: return unary_kernel<T>(x, out, p, Name##Fn{});
#include "tensor/elementwise.def"
#undef FG_UNARY
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_float(a.dtype(), binary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_BINARY(Name, expr) \
  case BinaryOp::Name: return binary_kernel<T>(a, b, out, Name##Fn{});
#include "tensor/elementwise.def"
#undef FG_BINARY
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_float(a.dtype(), "where", [&](auto z) {
    using T = decltype(z);
    dispatch_all(cond.dtype(), [&](auto zc) {
      using C = decltype(zc);
      const C* pc = static_cast<const C*>(cond.raw());
      const T* pa = static_cast<const T*>(a.raw());
      const T* pb = static_cast<const T*>(b.raw());
      T* po = static_cast<T*>(out.raw());
      const Shape& os = out.shape();
      broadcast_walk<3>(os, std::array<std::vector<int64_t>, 3>{broadcast_strides(cond.shape(), os), broadcast_strides(a.shape(), os),
                             broadcast_strides(b.shape(), os)},
                        [&](int64_t o, const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                          const C* c = pc + off[0];
                          const T* x = pa + off[1];
                          const T* y = pb + off[2];
                          T* z = po + o;
                          if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                            for (int64_t i = 0; i < n; ++i) z[i] = c[i] != C(0) ? x[i] : y[i];
                          } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
                            for (int64_t i = 0; i < n; ++i) z[i] = c[i] != C(0) ? x[i] : *y;
                          } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
                            for (int64_t i = 0; i < n; ++i) z[i] = c[i] != C(0) ? *x : y[i];
                          } else {
                            for (int64_t i = 0; i < n; ++i) z[i] = c[i * st[0]] != C(0) ? x[i * st[1]] : y[i * st[2]];
                          }
                        });
    });
  });
}

namespace {
template <class E>
void strided_copy_typed(const E* s, E* d, const StridedCopyParams& p) {
  size_t r = p.shape.size();
  int64_t inner = p.shape[r - 1];
  int64_t rows = numel(p.shape) / inner;
  int64_t ss = p.src_strides[r - 1], ds = p.dst_strides[r - 1];
  parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t so = p.src_offset, dofs = p.dst_offset, rem = row;
      for (size_t k = r - 1; k-- > 0;) {
        int64_t i = rem % p.shape[k];
        rem /= p.shape[k];
        so += i * p.src_strides[k];
        dofs += i * p.dst_strides[k];
      }
      if (ss == 1 && ds == 1) {
        std::memcpy(d + dofs, s + so, inner * sizeof(E));
      } else {
        for (int64_t i = 0; i < inner; ++i) d[dofs + i * ds] = s[so + i * ss];
      }
    }
  }, std::max<int64_t>(1, kGrain / inner));
}
}  // namespace

void CpuBackend::strided_copy(const Tensor& src, Tensor& dst, const StridedCopyParams& p) {
  if (p.shape.empty()) {
    size_t es = dtype_size(src.dtype());
    std::memcpy(static_cast<char*>(dst.raw()) + p.dst_offset * es,
                static_cast<const char*>(src.raw()) + p.src_offset * es, es);
    return;
  }
  if (numel(p.shape) == 0) return;
  switch (dtype_size(src.dtype())) {
    case 1: return strided_copy_typed(static_cast<const uint8_t*>(src.raw()), static_cast<uint8_t*>(dst.raw()), p);
    case 4: return strided_copy_typed(static_cast<const uint32_t*>(src.raw()), static_cast<uint32_t*>(dst.raw()), p);
    case 8: return strided_copy_typed(static_cast<const uint64_t*>(src.raw()), static_cast<uint64_t*>(dst.raw()), p);
  }
}

}  // namespace fg::cpu
