// CPU reductions of a strided input into a contiguous output (ReduceParams: kept dims give the
// output elements, reduced dims are walked for each). Float sums accumulate in double, one output
// element per thread item in a fixed order, so results do not depend on the thread count;
// logsumexp subtracts the max first so it never overflows.
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {

// Calls f(value) for every element of the reduced set starting at `base`, innermost dim last.
template <class T, class F>
void for_reduced(const T* base, const ReduceParams& p, F&& f) {
  if (p.red_rank == 0) return f(static_cast<double>(*base));
  const int64_t r = p.red_rank, inner = p.red_shape[r - 1], step = p.red_strides[r - 1];
  const int64_t rows = p.reduced() / std::max<int64_t>(inner, 1);
  if (inner == 0) return;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t off = 0, rem = row;
    for (int64_t d = r - 1; d-- > 0;) {
      off += (rem % p.red_shape[d]) * p.red_strides[d];
      rem /= p.red_shape[d];
    }
    const T* q = base + off;
    if (step == 1) {
      for (int64_t i = 0; i < inner; ++i) f(static_cast<double>(q[i]));
    } else {
      for (int64_t i = 0; i < inner; ++i) f(static_cast<double>(q[i * step]));
    }
  }
}

// Sum of a unit-stride run in double, with four partial sums so the loop vectorizes while the
// order stays fixed (independent of threads).
template <class T>
double sum_run(const T* q, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += q[i];
    s1 += q[i + 1];
    s2 += q[i + 2];
    s3 += q[i + 3];
  }
  for (; i < n; ++i) s0 += q[i];
  return (s0 + s1) + (s2 + s3);
}

template <class T>
double sum_reduced(const T* base, const ReduceParams& p) {
  if (p.red_rank == 0) return static_cast<double>(*base);
  const int64_t r = p.red_rank, inner = p.red_shape[r - 1];
  if (p.red_strides[r - 1] != 1 || inner == 0) {
    double acc = 0;
    for_reduced(base, p, [&](double v) { acc += v; });
    return acc;
  }
  const int64_t rows = p.reduced() / inner;
  double acc = 0;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t off = 0, rem = row;
    for (int64_t d = r - 1; d-- > 0;) {
      off += (rem % p.red_shape[d]) * p.red_strides[d];
      rem /= p.red_shape[d];
    }
    acc += sum_run(base + off, inner);
  }
  return acc;
}

template <class T>
void reduce_typed(ReduceOp op, const ReduceParams& p, const T* x, T* out) {
  const int64_t R = p.reduced(), outs = p.outputs();
  parallel_for(outs, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t off = 0, rem = o;
      for (int64_t d = p.out_rank; d-- > 0;) {
        off += (rem % p.out_shape[d]) * p.in_strides[d];
        rem /= p.out_shape[d];
      }
      const T* base = x + off;
      double acc = 0;
      switch (op) {
        case ReduceOp::Sum:
        case ReduceOp::Mean:
          acc = sum_reduced(base, p);
          if (op == ReduceOp::Mean) acc /= static_cast<double>(R);
          break;
        case ReduceOp::Max:
          acc = -std::numeric_limits<double>::infinity();
          for_reduced(base, p, [&](double v) { acc = std::max(acc, v); });
          break;
        case ReduceOp::Min:
          acc = std::numeric_limits<double>::infinity();
          for_reduced(base, p, [&](double v) { acc = std::min(acc, v); });
          break;
        case ReduceOp::LogSumExp: {
          double m = -std::numeric_limits<double>::infinity();
          for_reduced(base, p, [&](double v) { m = std::max(m, v); });
          if (std::isinf(m)) {
            acc = m;
            break;
          }
          double s = 0;
          for_reduced(base, p, [&](double v) { s += std::exp(v - m); });
          acc = m + std::log(s);
          break;
        }
      }
      out[o] = static_cast<T>(acc);
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)));
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const ReduceParams& p, const Tensor& x, Tensor& out) {
  dispatch_float(x.dtype(), "reduce", [&](auto z) {
    using T = decltype(z);
    reduce_typed(op, p, in_ptr<T>(&x), dense_out<T>(&out));
  });
}

}  // namespace fg::cpu
