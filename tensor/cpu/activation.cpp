// Fused activation kernels: ConcatELU (alpha 1) forward and backward over [outer, C, inner]
// blocks. The backward reads only the saved output: elu'(v) = 1 for v > 0, else elu(v) + 1.
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dispatch.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu {

namespace {

template <class T>
void concat_elu_typed(const T* x, T* y, int64_t outer, int64_t c, int64_t inner) {
  int64_t plane = c * inner;
  parallel_for(outer * c, [&](int64_t b, int64_t e) {
    for (int64_t oc = b; oc < e; ++oc) {
      int64_t o = oc / c, ch = oc % c;
      const T* xs = x + o * plane + ch * inner;
      T* y1 = y + o * 2 * plane + ch * inner;
      T* y2 = y1 + plane;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) {
        T v = xs[i];
        T em = expm1(v < T(0) ? v : -v);  // e^{-|v|} - 1
        y1[i] = v > T(0) ? v : em;
        y2[i] = v > T(0) ? em : -v;
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)));
}

template <class T>
void concat_elu_backward_typed(const T* y, const T* g, T* dx, int64_t outer, int64_t c, int64_t inner) {
  int64_t plane = c * inner;
  parallel_for(outer * c, [&](int64_t b, int64_t e) {
    for (int64_t oc = b; oc < e; ++oc) {
      int64_t o = oc / c, ch = oc % c;
      const T* y1 = y + o * 2 * plane + ch * inner;
      const T* y2 = y1 + plane;
      const T* g1 = g + o * 2 * plane + ch * inner;
      const T* g2 = g1 + plane;
      T* d = dx + o * plane + ch * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) {
        T d1 = y1[i] > T(0) ? T(1) : y1[i] + T(1);
        T d2 = y2[i] > T(0) ? T(1) : y2[i] + T(1);
        d[i] = g1[i] * d1 - g2[i] * d2;
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)));
}

}  // namespace

void CpuBackend::concat_elu(const ConcatEluParams& p, const Tensor& x, Tensor& y) {
  dispatch_float(x.dtype(), "concat_elu", [&](auto z) {
    using T = decltype(z);
    concat_elu_typed(dense_in<T>(&x), dense_out<T>(&y), p.outer, p.C, p.inner);
  });
}

void CpuBackend::concat_elu_backward(const ConcatEluParams& p, const Tensor& y, const Tensor& g, Tensor& dx) {
  dispatch_float(y.dtype(), "concat_elu_backward", [&](auto z) {
    using T = decltype(z);
    concat_elu_backward_typed(dense_in<T>(&y), dense_in<T>(&g), dense_out<T>(&dx), p.outer, p.C, p.inner);
  });
}

}  // namespace fg::cpu
