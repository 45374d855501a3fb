// CPU multi-tensor kernels for a training step: the sum of squares of many tensors (global-norm
// clipping: one reduction, accumulated in double per tensor in a fixed order), scaling many
// tensors by one device scalar, and torch.optim.Adam's update over every parameter in one call.
// Adam follows torch 1.13's single-tensor path exactly: m = m*b1 + (1-b1)*g; v = v*b2 + (1-b2)*g*g;
// p += -lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), with weight decay g += wd*p first
// (AdamW, torch.optim.AdamW: p *= 1 - lr*wd first instead). The step count t lives in a device tensor; a non-zero `skip` (a non-finite step) leaves everything,
// the count included, as it was.
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {
double read_scalar(const Tensor& t) {
  double v = 0;
  dispatch_all(t.dtype(), [&](auto z) { v = static_cast<double>(*in_ptr<decltype(z)>(&t)); });
  return v;
}
}  // namespace

void CpuBackend::sum_of_squares(const std::vector<const Tensor*>& xs, Tensor& out) {
  std::vector<double> part(xs.size(), 0.0);
  // one tensor per work item keeps the summation order fixed whatever the thread count
  parallel_for(static_cast<int64_t>(xs.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      dispatch_float(xs[i]->dtype(), "sum_of_squares", [&](auto z) {
        using T = decltype(z);
        const T* p = dense_in<T>(xs[i]);
        double s = 0;
        for (int64_t j = 0, n = xs[i]->numel(); j < n; ++j) s += static_cast<double>(p[j]) * p[j];
        part[i] = s;
      });
  }, 1);
  double total = 0;
  for (double s : part) total += s;
  dispatch_float(out.dtype(), "sum_of_squares", [&](auto z) { *dense_out<decltype(z)>(&out) = total; });
}

void CpuBackend::scale_all(const std::vector<const Tensor*>& xs, const Tensor& factor, const std::vector<Tensor*>& out) {
  const double f = read_scalar(factor);
  for (size_t i = 0; i < xs.size(); ++i)
    dispatch_float(xs[i]->dtype(), "scale_all", [&](auto z) {
      using T = decltype(z);
      const T* x = dense_in<T>(xs[i]);
      T* y = dense_out<T>(out[i]);
      const T tf = static_cast<T>(f);
      parallel_for(xs[i]->numel(), [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) y[j] = x[j] * tf;
      });
    });
}

void CpuBackend::adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip) {
  if (skip && read_scalar(*skip) != 0) return;
  double* count = dense_out<double>(&step);
  *count += 1;
  const double bc1 = 1.0 - std::pow(p.beta1, *count), bc2 = 1.0 - std::pow(p.beta2, *count);
  const double step_size = p.lr / bc1, bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < t.params.size(); ++i)
    dispatch_float(t.params[i]->dtype(), "adam_step", [&](auto z) {
      using T = decltype(z);
      T* w = dense_out<T>(t.params[i]);
      T* m = dense_out<T>(t.exp_avg[i]);
      T* v = dense_out<T>(t.exp_avg_sq[i]);
      const T* g = dense_in<T>(t.grads[i]);
      const T b1 = T(p.beta1), b2 = T(p.beta2), a1 = T(1 - p.beta1), a2 = T(1 - p.beta2), wd = T(p.weight_decay);
      const T eps = T(p.eps), bc = T(bc2_sqrt), neg_step = T(-step_size);
      const bool decay = p.weight_decay != 0 && p.decoupled == 0;
      const T shrink = T(p.decoupled != 0 ? 1 - p.lr * p.weight_decay : 1);
      parallel_for(t.params[i]->numel(), [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) {
          w[j] = w[j] * shrink;
          T gj = decay ? g[j] + wd * w[j] : g[j];
          m[j] = m[j] * b1 + a1 * gj;
          v[j] = v[j] * b2 + a2 * gj * gj;
          T denom = std::sqrt(v[j]) / bc + eps;
          w[j] = w[j] + neg_step * (m[j] / denom);
        }
      });
    });
}

}  // namespace fg::cpu
