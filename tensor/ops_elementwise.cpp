// Elementwise ops: checks, broadcast shapes, geometry (tensor/geometry.h) and dispatch. The named
// functions are generated from elementwise.def; scalars become 0-d tensors (broadcast for free)
// or fold into the Affine kernel.
#include "tensor/geometry.h"
#include "tensor/ops_check.h"

namespace fg {

namespace {
void check_unary_params(UnaryOp op, const UnaryParams& p) {
  if (op == UnaryOp::Clamp) FG_CHECK(p.a <= p.b, "clamp: lower bound {} is above upper bound {}", p.a, p.b);
}
}  // namespace

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p) {
  const char* name = unary_name(op);
  detail::check_float(name, x);
  check_unary_params(op, p);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  launch(x.device()).unary(op, p, elementwise_params(name, out, {&x}), x, out);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  detail::check_same(name, a, b);
  detail::check_float(name, a);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  launch(a.device()).binary(op, elementwise_params(name, out, {&a, &b}), a, b, out);
  return out;
}

#define FG_UNARY(Name, fn, np, ...) \
  Tensor fn(const Tensor& x FG_EW_PARAMS_##np) { return unary(UnaryOp::Name, x, FG_EW_ARGS_##np); }
#define FG_BINARY(Name, fn, ...) \
  Tensor fn(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Name, a, b); }
#define FG_COMPARE(Name, fn, ...) \
  Tensor fn(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Name, a, b); }
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef FG_COMPARE

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g, UnaryParams p) {
  const char* name = unary_name(op);
  detail::check_float(name, g);
  FG_CHECK(!unary_saves_x(op) || (x.defined() && x.shape() == g.shape()), "{} backward: needs the input, shaped as {}",
           name, shape_str(g.shape()));
  FG_CHECK(!unary_saves_y(op) || (y.defined() && y.shape() == g.shape()),
           "{} backward: needs the output, shaped as {}", name, shape_str(g.shape()));
  const Tensor& xs = x.defined() ? x : g;  // stand-ins the kernel does not read
  const Tensor& ys = y.defined() ? y : g;
  Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
  launch(g.device()).unary_backward(op, p, elementwise_params(name, dx, {&g, &xs, &ys}), xs, ys, g, dx);
  return dx;
}

BinaryGrads binary_backward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& g, bool need_a, bool need_b) {
  const char* name = binary_name(op);
  FG_CHECK(static_cast<int>(op) < kNumDiffBinaryOps, "{}: comparisons have no gradient", name);
  const int flags = binary_grad_flags(op);
  BinaryGrads r;
  if (need_a && (flags & kGradAIsG)) r.da = sum_to(g, a.shape());
  if (need_b && (flags & kGradBIsG)) r.db = sum_to(g, b.shape());
  const bool ka = need_a && !(flags & kGradAIsG), kb = need_b && !(flags & kGradBIsG);
  if (!ka && !kb) return r;
  Tensor da = ka ? Tensor::empty(g.shape(), g.dtype(), g.device()) : Tensor();
  Tensor db = kb ? Tensor::empty(g.shape(), g.dtype(), g.device()) : Tensor();
  const Tensor& o0 = ka ? da : db;
  const Tensor& o1 = kb ? db : da;
  // the outputs are written through the stride walk as operands 0 and 1
  ElementwiseParams e = elementwise_params(name, o0, {&o1, &g, &a, &b});
  launch(g.device()).binary_backward(op, e, a, b, g, ka ? &da : nullptr, kb ? &db : nullptr);
  if (ka) r.da = sum_to(da, a.shape());
  if (kb) r.db = sum_to(db, b.shape());
  return r;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_same("where", a, b);
  detail::check_float("where", a);
  detail::check_defined("where", cond);
  FG_CHECK(cond.device() == a.device(), "where: condition is on {} but values are on {}", cond.device().str(),
           a.device().str());
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  launch(a.device()).where(elementwise_params("where", out, {&cond, &a, &b}), cond, a, b, out);
  return out;
}

namespace {
ConcatEluParams concat_elu_dims(const Shape& s) {
  ConcatEluParams p{s[0], s[1], 1};
  for (size_t i = 2; i < s.size(); ++i) p.inner *= s[i];
  return p;
}
}  // namespace

Tensor concat_elu(const Tensor& x) {
  detail::check_float("concat_elu", x);
  FG_CHECK(x.dim() >= 2, "concat_elu: needs [N, C, ...], got {}", shape_str(x.shape()));
  Shape ys = x.shape();
  ys[1] *= 2;
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  launch(x.device()).concat_elu(concat_elu_dims(x.shape()), x.contiguous(), y);
  return y;
}

Tensor concat_elu_backward(const Tensor& y, const Tensor& g) {
  detail::check_same("concat_elu_backward", y, g);
  FG_CHECK(y.shape() == g.shape() && y.dim() >= 2 && y.size(1) % 2 == 0,
           "concat_elu_backward: output {} and gradient {} must match, with an even channel count",
           shape_str(y.shape()), shape_str(g.shape()));
  Shape xs = y.shape();
  xs[1] /= 2;
  Tensor dx = Tensor::empty(xs, y.dtype(), y.device());
  launch(y.device()).concat_elu_backward(concat_elu_dims(xs), y.contiguous(), g.contiguous(), dx);
  return dx;
}

Tensor gated_residual(const Tensor& x, const Tensor& h) {
  detail::check_same("gated_residual", x, h);
  detail::check_float("gated_residual", x);
  Shape hs = x.shape();
  if (hs.size() >= 2) hs[1] *= 2;
  FG_CHECK(x.dim() >= 2 && h.shape() == hs, "gated_residual: needs x [N, C, ...] and h [N, 2C, ...], got {} and {}",
           shape_str(x.shape()), shape_str(h.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  launch(x.device()).gated_residual(concat_elu_dims(x.shape()), x.contiguous(), h.contiguous(), y);
  return y;
}

Tensor gated_residual_backward(const Tensor& h, const Tensor& g) {
  detail::check_same("gated_residual_backward", h, g);
  Shape hs = g.shape();
  if (hs.size() >= 2) hs[1] *= 2;
  FG_CHECK(g.dim() >= 2 && h.shape() == hs,
           "gated_residual_backward: needs h [N, 2C, ...] and gradient [N, C, ...], got {} and {}",
           shape_str(h.shape()), shape_str(g.shape()));
  Tensor dh = Tensor::empty(h.shape(), h.dtype(), h.device());
  launch(h.device()).gated_residual_backward(concat_elu_dims(g.shape()), h.contiguous(), g.contiguous(), dh);
  return dh;
}

namespace {
SigmoidCouplingParams sigmoid_coupling_params(const char* op, const Tensor& z, const Tensor& h, int64_t ca,
                                              double shift, bool reverse) {
  detail::check_same(op, z, h);
  detail::check_float(op, z);
  FG_CHECK(z.dim() >= 2 && ca >= 1 && ca < z.size(1), "{}: needs z [N, C, ...] with 0 < ca < C, got {} and ca {}", op,
           shape_str(z.shape()), ca);
  Shape hs = z.shape();
  hs[1] = 2 * (hs[1] - ca);
  FG_CHECK(h.shape() == hs, "{}: needs h [N, 2(C - ca), ...] = {} for z {} and ca {}, got {}", op, shape_str(hs),
           shape_str(z.shape()), ca, shape_str(h.shape()));
  return {z.size(0), z.size(1), ca, z.size(0) ? z.numel() / (z.size(0) * z.size(1)) : 0, shift, reverse};
}
}  // namespace

SigmoidCoupling sigmoid_coupling(const Tensor& z, const Tensor& h, int64_t ca, double shift, bool reverse) {
  SigmoidCouplingParams p = sigmoid_coupling_params("sigmoid_coupling", z, h, ca, shift, reverse);
  SigmoidCoupling r{Tensor::empty(z.shape(), z.dtype(), z.device()), Tensor::empty({p.N}, z.dtype(), z.device())};
  launch(z.device()).sigmoid_coupling(p, z.contiguous(), h.contiguous(), r.y, r.logdet);
  return r;
}

SigmoidCouplingGrads sigmoid_coupling_backward(const Tensor& z, const Tensor& h, const Tensor& grad_y,
                                               const Tensor& grad_logdet, int64_t ca, double shift, bool reverse) {
  SigmoidCouplingParams p = sigmoid_coupling_params("sigmoid_coupling_backward", z, h, ca, shift, reverse);
  Tensor gy = grad_y.defined() ? grad_y : zeros(z.shape(), z.dtype(), z.device());
  Tensor gl = grad_logdet.defined() ? grad_logdet : zeros({p.N}, z.dtype(), z.device());
  detail::check_same("sigmoid_coupling_backward", z, gy);
  detail::check_same("sigmoid_coupling_backward", z, gl);
  FG_CHECK(gy.shape() == z.shape() && gl.shape() == Shape{p.N},
           "sigmoid_coupling_backward: gradients {} and {} must match y {} and logdet [{}]", shape_str(gy.shape()),
           shape_str(gl.shape()), shape_str(z.shape()), p.N);
  SigmoidCouplingGrads g{Tensor::empty(z.shape(), z.dtype(), z.device()), Tensor::empty(h.shape(), h.dtype(), h.device())};
  launch(z.device()).sigmoid_coupling_backward(p, z.contiguous(), h.contiguous(), gy.contiguous(), gl.contiguous(),
                                               g.dz, g.dh);
  return g;
}

namespace {
void check_lipswish(const char* op, const Tensor& x, const Tensor& dx, const Tensor& beta) {
  detail::check_float(op, x);
  detail::check_same(op, x, beta);
  FG_CHECK(beta.numel() == 1, "{}: beta must have one element, got {}", op, shape_str(beta.shape()));
  if (!dx.defined()) return;
  detail::check_same(op, x, dx);
  FG_CHECK(dx.shape() == x.shape(), "{}: the tangent {} must be shaped as x {}", op, shape_str(dx.shape()),
           shape_str(x.shape()));
}
const Tensor* if_defined(const Tensor& t) { return t.defined() ? &t : nullptr; }
Tensor* if_defined(Tensor& t) { return t.defined() ? &t : nullptr; }
}  // namespace

LipSwishResult lipswish(const Tensor& x, const Tensor& dx, const Tensor& beta) {
  check_lipswish("lipswish", x, dx, beta);
  LipSwishResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor()};
  if (dx.defined()) r.dy = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor xc = x.contiguous(), dxc = dx.defined() ? dx.contiguous() : Tensor();
  launch(x.device()).lipswish(xc, if_defined(dxc), beta.contiguous(), r.y, if_defined(r.dy));
  return r;
}

LipSwishGrads lipswish_backward(const Tensor& x, const Tensor& dx, const Tensor& beta, const Tensor& grad_y,
                                const Tensor& grad_dy) {
  check_lipswish("lipswish_backward", x, dx, beta);
  FG_CHECK(grad_y.defined() || grad_dy.defined(), "lipswish_backward: no gradient of y or dy");
  FG_CHECK(dx.defined() || !grad_dy.defined(), "lipswish_backward: a gradient of dy without a tangent");
  for (const Tensor* g : {&grad_y, &grad_dy})
    if (g->defined()) {
      detail::check_same("lipswish_backward", x, *g);
      FG_CHECK(g->shape() == x.shape(), "lipswish_backward: gradient {} must be shaped as x {}", shape_str(g->shape()),
               shape_str(x.shape()));
    }
  LipSwishGrads r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor(),
                  Tensor::empty(beta.shape(), beta.dtype(), beta.device())};
  if (grad_dy.defined()) r.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor xc = x.contiguous(), dxc = dx.defined() ? dx.contiguous() : Tensor();
  const Tensor gy = grad_y.defined() ? grad_y.contiguous() : Tensor();
  const Tensor gdy = grad_dy.defined() ? grad_dy.contiguous() : Tensor();
  launch(x.device()).lipswish_backward(xc, if_defined(dxc), beta.contiguous(), if_defined(gy), if_defined(gdy), r.x,
                                       if_defined(r.dx), r.beta);
  return r;
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
