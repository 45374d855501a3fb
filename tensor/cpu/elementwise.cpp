// CPU elementwise kernels, generated from elementwise.def: unary and binary forward, their fused
// backward (one pass computes dx, or da and db, from g and the saved operands), comparisons, where,
// cast, copy and fill. Operands are strided views; the geometry (broadcast, coalesced dims) comes
// from ElementwiseParams. Rows of the last dim run as plain loops, unit-stride rows vectorize.
#include <array>
#include <cmath>
#include <cstring>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {

using std::sqrt, std::floor, std::pow, std::sin, std::cos;
#define FG_HD __attribute__((always_inline))  // a helper left as a call stops the loop vectorizing
#include "tensor/elementwise_math.inc"
#undef FG_HD

#define FG_UNARY(Name, fn, np, saves, fwd, bwd, ...)                         \
  struct Name##Fn {                                                          \
    template <class T> FG_ALWAYS_INLINE T operator()(T x, const UnaryParams& p) const { \
      (void)p;                                                               \
      return fwd;                                                            \
    }                                                                        \
    template <class T> FG_ALWAYS_INLINE T backward(T g, T x, T y, const UnaryParams& p) const { \
      (void)g, (void)x, (void)y, (void)p;                                    \
      return bwd;                                                            \
    }                                                                        \
  };
#define FG_BINARY(Name, fn, saves, fwd, ga, gb, ...)                                \
  struct Name##Fn {                                                          \
    template <class T> FG_ALWAYS_INLINE T operator()(T a, T b) const { return fwd; } \
    template <class T> FG_ALWAYS_INLINE T grad_a(T g, T a, T b) const {      \
      (void)g, (void)a, (void)b;                                             \
      return ga;                                                             \
    }                                                                        \
    template <class T> FG_ALWAYS_INLINE T grad_b(T g, T a, T b) const {      \
      (void)g, (void)a, (void)b;                                             \
      return gb;                                                             \
    }                                                                        \
  };
#define FG_COMPARE(Name, fn, fwd)                                            \
  struct Name##Fn {                                                          \
    template <class T> FG_ALWAYS_INLINE T operator()(T a, T b) const { return fwd; } \
  };
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef FG_COMPARE

template <int K> using Offsets = std::array<int64_t, K>;

// Calls f(offsets, n, steps) for each row of e's last dim (offsets in elements per operand, steps
// the operands' strides along the row). Rows are cut into pieces of at most kGrain elements, so a
// few long rows (a coalesced dense tensor is one row) still spread over the threads.
template <int K, class F>
void walk(const ElementwiseParams& e, F&& f) {
  FG_CHECK(e.operands == K, "elementwise kernel: {} operands given, {} expected", e.operands, K);
  Offsets<K> zero{};
  if (e.rank == 0) return f(zero, int64_t{1}, zero);
  const int64_t r = e.rank, inner = e.shape[r - 1];
  if (inner == 0) return;
  const int64_t rows = e.numel() / inner;
  Offsets<K> step;
  for (int k = 0; k < K; ++k) step[k] = e.strides[k][r - 1];
  const int64_t pieces = (inner + kGrain - 1) / kGrain, piece_len = (inner + pieces - 1) / pieces;
  parallel_for(rows * pieces, [&](int64_t b, int64_t end) {
    for (int64_t item = b; item < end; ++item) {
      int64_t row = item / pieces, start = (item % pieces) * piece_len;
      int64_t len = std::min(piece_len, inner - start);
      Offsets<K> off{};
      int64_t rem = row;
      for (int64_t d = r - 1; d-- > 0;) {
        int64_t i = rem % e.shape[d];
        rem /= e.shape[d];
        for (int k = 0; k < K; ++k) off[k] += i * e.strides[k][d];
      }
      for (int k = 0; k < K; ++k) off[k] += start * step[k];
      f(off, len, step);
    }
  }, std::max<int64_t>(1, kGrain / std::min(inner, kGrain)));
}

template <class T> const T* cp(const Tensor& t) { return static_cast<const T*>(t.raw()); }
template <class T> T* mp(Tensor& t) { return static_cast<T*>(t.raw()); }

// p is taken by value: a reference could alias the output, and the loop would reload it.
template <class T, class Fn>
void unary_kernel(const ElementwiseParams& e, const Tensor& x, Tensor& out, const UnaryParams p, Fn fn) {
  T* po = mp<T>(out);
  const T* px = cp<T>(x);
  walk<2>(e, [&](const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
    T* o = po + off[0];
    const T* xi = px + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = fn(xi[i], p);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = fn(xi[i * st[1]], p);
    }
  });
}

// operands: dx, g, x, y (x or y stand in for each other, or for g, when not saved)
template <class T, class Fn>
void unary_backward_kernel(const ElementwiseParams& e, const Tensor& x, const Tensor& y, const Tensor& g, Tensor& dx,
                           const UnaryParams p, Fn fn) {
  T* pd = mp<T>(dx);
  const T *pg = cp<T>(g), *px = cp<T>(x), *py = cp<T>(y);
  walk<4>(e, [&](const Offsets<4>& off, int64_t n, const Offsets<4>& st) {
    T* d = pd + off[0];
    const T *gi = pg + off[1], *xi = px + off[2], *yi = py + off[3];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
      for (int64_t i = 0; i < n; ++i) d[i] = fn.backward(gi[i], xi[i], yi[i], p);
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * st[0]] = fn.backward(gi[i * st[1]], xi[i * st[2]], yi[i * st[3]], p);
    }
  });
}

template <class T, class Fn>
void binary_kernel(const ElementwiseParams& e, const Tensor& a, const Tensor& b, Tensor& out, Fn fn) {
  T* po = mp<T>(out);
  const T *pa = cp<T>(a), *pb = cp<T>(b);
  walk<3>(e, [&](const Offsets<3>& off, int64_t n, const Offsets<3>& st) {
    T* z = po + off[0];
    const T *x = pa + off[1], *y = pb + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) z[i] = fn(x[i], y[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) z[i] = fn(x[i], yv);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) z[i] = fn(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) z[i * st[0]] = fn(x[i * st[1]], y[i * st[2]]);
    }
  });
}

// operands: da, db, g, a, b (da and db the same tensor when only one is wanted)
template <class T, bool WantA, bool WantB, class Fn>
void binary_backward_kernel(const ElementwiseParams& e, const Tensor& a, const Tensor& b, const Tensor& g,
                            Tensor* da, Tensor* db, Fn fn) {
  T* pda = WantA ? mp<T>(*da) : nullptr;
  T* pdb = WantB ? mp<T>(*db) : nullptr;
  const T *pg = cp<T>(g), *pa = cp<T>(a), *pb = cp<T>(b);
  walk<5>(e, [&](const Offsets<5>& off, int64_t n, const Offsets<5>& st) {
    T* oa = WantA ? pda + off[0] : nullptr;
    T* ob = WantB ? pdb + off[1] : nullptr;
    const T *gi = pg + off[2], *ai = pa + off[3], *bi = pb + off[4];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1 && st[4] == 1) {
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (WantA) oa[i] = fn.grad_a(gi[i], ai[i], bi[i]);
        if constexpr (WantB) ob[i] = fn.grad_b(gi[i], ai[i], bi[i]);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const T gv = gi[i * st[2]], av = ai[i * st[3]], bv = bi[i * st[4]];
        if constexpr (WantA) oa[i * st[0]] = fn.grad_a(gv, av, bv);
        if constexpr (WantB) ob[i * st[1]] = fn.grad_b(gv, av, bv);
      }
    }
  });
}

// A copy whose last two dims swap roles (dst's last dim and src's second-to-last have stride 1:
// NCHW <-> channel-blocked, a transpose) in 16 x 16 tiles, so that both sides touch whole cache
// lines; walk() would read one element per source row. Returns false for other copies.
template <class E>
bool copy_transposed(const ElementwiseParams& e, const E* s, E* d) {
  const int64_t r = e.rank;
  if (r < 2 || e.strides[0][r - 1] != 1 || e.strides[1][r - 2] != 1) return false;
  if (e.numel() == 0) return true;  // (the tile count below divides by the last two dims)
  constexpr int64_t kTile = 16;
  const int64_t na = e.shape[r - 2], nb = e.shape[r - 1], da = e.strides[0][r - 2], sb = e.strides[1][r - 1];
  const int64_t ta = (na + kTile - 1) / kTile, tb = (nb + kTile - 1) / kTile, tiles = ta * tb;
  parallel_for(e.numel() / (na * nb) * tiles, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t rem = item / tiles, od = 0, os = 0;
      for (int64_t k = r - 2; k-- > 0;) {
        const int64_t i = rem % e.shape[k];
        rem /= e.shape[k];
        od += i * e.strides[0][k];
        os += i * e.strides[1][k];
      }
      const int64_t a0 = (item % tiles) / tb * kTile, b0 = (item % tiles) % tb * kTile;
      const int64_t a1 = std::min(na, a0 + kTile), b1 = std::min(nb, b0 + kTile);
      for (int64_t a = a0; a < a1; ++a)
        for (int64_t b = b0; b < b1; ++b) d[od + a * da + b] = s[os + a + b * sb];
    }
  }, std::max<int64_t>(1, kGrain / (kTile * kTile)));
  return true;
}

template <class E>
void copy_typed(const ElementwiseParams& e, const E* s, E* d) {
  if (copy_transposed(e, s, d)) return;
  walk<2>(e, [&](const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
    if (st[0] == 1 && st[1] == 1) {
      std::memcpy(d + off[0], s + off[1], n * sizeof(E));
    } else {
      for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = s[off[1] + i * st[1]];
    }
  });
}

}  // namespace

void CpuBackend::fill(Tensor& out, double v) {
  dispatch_all(out.dtype(), [&](auto z) {
    using T = decltype(z);
    T* p = dense_out<T>(&out);
    T tv = static_cast<T>(v);
    parallel_for(out.numel(), [&](int64_t s, int64_t e) { std::fill(p + s, p + e, tv); });
  });
}

void CpuBackend::copy(const ElementwiseParams& e, const Tensor& src, Tensor& dst) {
  switch (dtype_size(src.dtype())) {
    case 1: return copy_typed(e, static_cast<const uint8_t*>(src.raw()), static_cast<uint8_t*>(dst.raw()));
    case 4: return copy_typed(e, static_cast<const uint32_t*>(src.raw()), static_cast<uint32_t*>(dst.raw()));
    case 8: return copy_typed(e, static_cast<const uint64_t*>(src.raw()), static_cast<uint64_t*>(dst.raw()));
  }
}

void CpuBackend::cast(const ElementwiseParams& e, const Tensor& x, Tensor& out) {
  dispatch_all(x.dtype(), [&](auto zi) {
    using I = decltype(zi);
    dispatch_all(out.dtype(), [&](auto zo) {
      using O = decltype(zo);
      const I* a = static_cast<const I*>(x.raw());
      O* b = static_cast<O*>(out.raw());
      walk<2>(e, [&](const Offsets<2>& off, int64_t n, const Offsets<2>& st) {
        for (int64_t i = 0; i < n; ++i) b[off[0] + i * st[0]] = static_cast<O>(a[off[1] + i * st[1]]);
      });
    });
  });
}

void CpuBackend::unary(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x, Tensor& out) {
  dispatch_float(x.dtype(), unary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_UNARY(Name, ...) \
  case UnaryOp::Name: return unary_kernel<T>(e, x, out, p, Name##Fn{});
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
    }
  });
}

void CpuBackend::unary_backward(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x,
                                const Tensor& y, const Tensor& g, Tensor& dx) {
  dispatch_float(g.dtype(), unary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_UNARY(Name, ...) \
  case UnaryOp::Name: return unary_backward_kernel<T>(e, x, y, g, dx, p, Name##Fn{});
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
    }
  });
}

void CpuBackend::binary(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_float(a.dtype(), binary_name(op), [&](auto z) {
    using T = decltype(z);
    switch (op) {
#define FG_BINARY(Name, ...) \
  case BinaryOp::Name: return binary_kernel<T>(e, a, b, out, Name##Fn{});
#define FG_COMPARE(Name, ...) \
  case BinaryOp::Name: return binary_kernel<T>(e, a, b, out, Name##Fn{});
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
#undef FG_COMPARE
    }
  });
}

void CpuBackend::binary_backward(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b,
                                 const Tensor& g, Tensor* da, Tensor* db) {
  auto run = [&](auto fn) {
    dispatch_float(g.dtype(), binary_name(op), [&](auto z) {
      using T = decltype(z);
      if (da && db) binary_backward_kernel<T, true, true>(e, a, b, g, da, db, fn);
      else if (da) binary_backward_kernel<T, true, false>(e, a, b, g, da, db, fn);
      else if (db) binary_backward_kernel<T, false, true>(e, a, b, g, da, db, fn);
    });
  };
  switch (op) {
#define FG_BINARY(Name, ...) \
  case BinaryOp::Name: return run(Name##Fn{});
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
    default: fail(fmt::format("{}: comparisons have no gradient", binary_name(op)));
  }
}

void CpuBackend::gather_rows(const Tensor& x, const Tensor& index, Tensor& out) {
  const int32_t* idx = dense_in<int32_t>(&index);
  const int64_t rows = x.size(0), row_bytes = static_cast<int64_t>(x.nbytes()) / std::max<int64_t>(rows, 1);
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t i = 0; i < index.numel(); ++i)
    FG_CHECK(idx[i] >= 0 && idx[i] < rows, "gather_rows: index {} is out of range for {} rows", idx[i], rows);
  parallel_for(index.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, row_bytes);
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(row_bytes / 4, 1)));
}

void CpuBackend::where(const ElementwiseParams& e, const Tensor& cond, const Tensor& a, const Tensor& b,
                       Tensor& out) {
  dispatch_float(a.dtype(), "where", [&](auto z) {
    using T = decltype(z);
    dispatch_all(cond.dtype(), [&](auto zc) {
      using C = decltype(zc);
      const C* pc = static_cast<const C*>(cond.raw());
      const T *pa = cp<T>(a), *pb = cp<T>(b);
      T* po = mp<T>(out);
      walk<4>(e, [&](const Offsets<4>& off, int64_t n, const Offsets<4>& st) {
        T* o = po + off[0];
        const C* c = pc + off[1];
        const T *x = pa + off[2], *y = pb + off[3];
        if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] != C(0) ? x[i] : y[i];
        } else if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 0) {
          const T yv = *y;
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] != C(0) ? x[i] : yv;
        } else if (st[0] == 1 && st[1] == 1 && st[2] == 0 && st[3] == 1) {
          const T xv = *x;
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] != C(0) ? xv : y[i];
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] = c[i * st[1]] != C(0) ? x[i * st[2]] : y[i * st[3]];
        }
      });
    });
  });
}

}  // namespace fg::cpu
