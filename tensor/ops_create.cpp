// Creation ops: constants, ranges, seeded random tensors, casts.
#include <cmath>

#include "tensor/geometry.h"
#include "tensor/ops_check.h"

namespace fg {

Tensor full(const Shape& s, double v, DType t, Device d) {
  Tensor out = Tensor::empty(s, t, d);
  launch(d).fill(out, v);
  return out;
}
Tensor zeros(const Shape& s, DType t, Device d) { return full(s, 0.0, t, d); }
Tensor ones(const Shape& s, DType t, Device d) { return full(s, 1.0, t, d); }
Tensor scalar(double v, DType t, Device d) { return full({}, v, t, d); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype(), x.device()); }
Tensor full_like(const Tensor& x, double v) { return full(x.shape(), v, x.dtype(), x.device()); }

Tensor arange(double start, double end, double step, DType t, Device d) {
  FG_CHECK(step != 0, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return from_vector(v, {n}).to(t).to(d);
}

Tensor linspace(double start, double end, int64_t n, DType t, Device d) {
  FG_CHECK(n >= 1, "linspace: need at least one point, got {}", n);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = n == 1 ? start : start + (end - start) * i / static_cast<double>(n - 1);
  return from_vector(v, {n}).to(t).to(d);
}

Tensor uniform(const Shape& s, double lo, double hi, DType t, Device d, Generator* g) {
  FG_CHECK(is_floating(t), "uniform: dtype {} is not floating", dtype_name(t));
  Generator& gen = g ? *g : default_generator();
  Tensor out = Tensor::empty(s, t, d);
  uint64_t blocks = static_cast<uint64_t>((out.numel() + 3) / 4) + 1;
  launch(d).random_uniform(out, lo, hi, gen.seed(), gen.advance(t == DType::F64 ? 2 * blocks : blocks));
  return out;
}
Tensor rand(const Shape& s, DType t, Device d, Generator* g) { return uniform(s, 0.0, 1.0, t, d, g); }

Tensor normal(const Shape& s, double mean, double std, DType t, Device d, Generator* g) {
  FG_CHECK(is_floating(t), "normal: dtype {} is not floating", dtype_name(t));
  Generator& gen = g ? *g : default_generator();
  Tensor out = Tensor::empty(s, t, d);
  launch(d).random_normal(out, mean, std, gen.seed(), gen.advance(static_cast<uint64_t>((out.numel() + 3) / 4) + 1));
  return out;
}
Tensor randn(const Shape& s, DType t, Device d, Generator* g) { return normal(s, 0.0, 1.0, t, d, g); }

Tensor cast(const Tensor& x, DType t) {
  detail::check_defined("cast", x);
  Tensor out = Tensor::empty(x.shape(), t, x.device());
  launch(x.device()).cast(elementwise_params("cast", out, {&x}), x, out);
  return out;
}

}  // namespace fg
