// Elementwise ops: checks, broadcasting of shapes, and dispatch; scalars become 0-d tensors
// (broadcast for free) or fold into the Affine kernel.
#include "tensor/ops_check.h"

namespace fg {

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p) {
  detail::check_float(unary_name(op), x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).unary(op, x, out, p);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  detail::check_same(name, a, b);
  detail::check_float(name, a);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  backend_for(a.device()).binary(op, a, b, out);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ge, a, b); }

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::Sign, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor softplus(const Tensor& x) { return unary(UnaryOp::Softplus, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor elu(const Tensor& x, double alpha) { return unary(UnaryOp::Elu, x, {alpha, 0}); }
Tensor floor(const Tensor& x) { return unary(UnaryOp::Floor, x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  FG_CHECK(lo <= hi, "clamp: lower bound {} is above upper bound {}", lo, hi);
  return unary(UnaryOp::Clamp, x, {lo, hi});
}
Tensor pow(const Tensor& x, double e) { return unary(UnaryOp::Pow, x, {e, 0}); }
Tensor square(const Tensor& x) { return unary(UnaryOp::Square, x); }
Tensor affine(const Tensor& x, double s, double t) { return unary(UnaryOp::Affine, x, {s, t}); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_same("where", a, b);
  detail::check_float("where", a);
  detail::check_defined("where", cond);
  FG_CHECK(cond.device() == a.device(), "where: condition is on {} but values are on {}", cond.device().str(),
           a.device().str());
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  backend_for(a.device()).where(cond, a, b, out);
  return out;
}

namespace {
void concat_elu_dims(const Shape& s, int64_t& outer, int64_t& c, int64_t& inner) {
  outer = s[0];
  c = s[1];
  inner = 1;
  for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
}
}  // namespace

Tensor concat_elu(const Tensor& x) {
  detail::check_float("concat_elu", x);
  FG_CHECK(x.dim() >= 2, "concat_elu: needs [N, C, ...], got {}", shape_str(x.shape()));
  int64_t outer, c, inner;
  concat_elu_dims(x.shape(), outer, c, inner);
  Shape ys = x.shape();
  ys[1] *= 2;
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  backend_for(x.device()).concat_elu(x, y, outer, c, inner);
  return y;
}

Tensor concat_elu_backward(const Tensor& y, const Tensor& g) {
  detail::check_same("concat_elu_backward", y, g);
  FG_CHECK(y.shape() == g.shape() && y.dim() >= 2 && y.size(1) % 2 == 0,
           "concat_elu_backward: output {} and gradient {} must match, with an even channel count",
           shape_str(y.shape()), shape_str(g.shape()));
  Shape xs = y.shape();
  xs[1] /= 2;
  int64_t outer, c, inner;
  concat_elu_dims(xs, outer, c, inner);
  Tensor dx = Tensor::empty(xs, y.dtype(), y.device());
  backend_for(y.device()).concat_elu_backward(y, g, dx, outer, c, inner);
  return dx;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double s) { return affine(a, 1.0, s); }
Tensor operator-(const Tensor& a, double s) { return affine(a, 1.0, -s); }
Tensor operator*(const Tensor& a, double s) { return affine(a, s, 0.0); }
Tensor operator/(const Tensor& a, double s) { return affine(a, 1.0 / s, 0.0); }
Tensor operator+(double s, const Tensor& a) { return affine(a, 1.0, s); }
Tensor operator-(double s, const Tensor& a) { return affine(a, -1.0, s); }
Tensor operator*(double s, const Tensor& a) { return affine(a, s, 0.0); }

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  return true;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  FG_CHECK(a.shape() == b.shape(), "max_abs_diff: shapes {} and {} differ", shape_str(a.shape()),
           shape_str(b.shape()));
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

}  // namespace fg
