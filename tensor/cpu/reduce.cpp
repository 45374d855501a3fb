// CPU reductions of x viewed as [outer, reduced, inner] into [outer, inner]. Float sums
// accumulate in double; logsumexp subtracts the max first so it never overflows.
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu {

namespace {

template <class T>
void reduce_typed(ReduceOp op, const T* x, T* out, const ReduceParams& p) {
  const int64_t R = p.reduced, I = p.inner;
  parallel_for(p.outer * I, [&](int64_t b, int64_t e) {
    for (int64_t oi = b; oi < e; ++oi) {
      int64_t o = oi / I, i = oi % I;
      const T* base = x + o * R * I + i;
      double acc;
      switch (op) {
        case ReduceOp::Sum:
        case ReduceOp::Mean:
          acc = 0;
          for (int64_t r = 0; r < R; ++r) acc += base[r * I];
          if (op == ReduceOp::Mean) acc /= static_cast<double>(R);
          break;
        case ReduceOp::Max:
          acc = -std::numeric_limits<double>::infinity();
          for (int64_t r = 0; r < R; ++r) acc = std::max<double>(acc, base[r * I]);
          break;
        case ReduceOp::Min:
          acc = std::numeric_limits<double>::infinity();
          for (int64_t r = 0; r < R; ++r) acc = std::min<double>(acc, base[r * I]);
          break;
        case ReduceOp::LogSumExp: {
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t r = 0; r < R; ++r) m = std::max<double>(m, base[r * I]);
          if (std::isinf(m)) {
            acc = m;
            break;
          }
          double s = 0;
          for (int64_t r = 0; r < R; ++r) s += std::exp(static_cast<double>(base[r * I]) - m);
          acc = m + std::log(s);
          break;
        }
      }
      out[oi] = static_cast<T>(acc);
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)));
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, Tensor& out, const ReduceParams& p) {
  if (x.dtype() == DType::F32) return reduce_typed(op, x.data<float>(), out.data<float>(), p);
  if (x.dtype() == DType::F64) return reduce_typed(op, x.data<double>(), out.data<double>(), p);
  fail(fmt::format("reduce: dtype {} is not supported (f32 and f64 are)", dtype_name(x.dtype())));
}

}  // namespace fg::cpu
