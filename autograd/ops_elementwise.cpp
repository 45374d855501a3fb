// Differentiable elementwise ops. Binary ops broadcast, so their gradients are summed back to
// each input's shape (sum_to). Unary ops save what their derivative needs (input or output).
#include "autograd/functional.h"

namespace fg::ag {

namespace {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;
Tensor zero_like_scalar(const Tensor& t) { return scalar(0.0, t.dtype(), t.device()); }

struct AddOp {
  static constexpr const char* name = "add";
  Shape sa, sb;
  Tensor forward(const std::vector<Tensor>& in) {
    sa = in[0].shape();
    sb = in[1].shape();
    return fg::add(in[0], in[1]);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    return {n[0] ? sum_to(g, sa) : Tensor{}, n[1] ? sum_to(g, sb) : Tensor{}};
  }
};

struct SubOp {
  static constexpr const char* name = "sub";
  Shape sa, sb;
  Tensor forward(const std::vector<Tensor>& in) {
    sa = in[0].shape();
    sb = in[1].shape();
    return fg::sub(in[0], in[1]);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    return {n[0] ? sum_to(g, sa) : Tensor{}, n[1] ? sum_to(fg::neg(g), sb) : Tensor{}};
  }
};

struct MulOp {
  static constexpr const char* name = "mul";
  Tensor a, b;
  Tensor forward(const std::vector<Tensor>& in) {
    a = in[0];
    b = in[1];
    return fg::mul(a, b);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    return {n[0] ? sum_to(g * b, a.shape()) : Tensor{}, n[1] ? sum_to(g * a, b.shape()) : Tensor{}};
  }
};

struct DivOp {
  static constexpr const char* name = "div";
  Tensor a, b;
  Tensor forward(const std::vector<Tensor>& in) {
    a = in[0];
    b = in[1];
    return fg::div(a, b);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    Tensor gb = g / b;
    return {n[0] ? sum_to(gb, a.shape()) : Tensor{}, n[1] ? sum_to(fg::neg(gb * a / b), b.shape()) : Tensor{}};
  }
};

// Unary ops whose gradient is g * d(saved), d computed from the saved input or output.
#define FG_UNARY_GRAD(Struct, opname, fwd, save_output, deriv)          \
  struct Struct {                                                       \
    static constexpr const char* name = opname;                         \
    Tensor s;                                                           \
    double p0 = 0, p1 = 0;                                              \
    Tensor forward(const std::vector<Tensor>& in) {                     \
      const Tensor& x = in[0];                                          \
      (void)x;                                                          \
      Tensor y = fwd;                                                   \
      s = save_output ? y : x;                                          \
      return y;                                                         \
    }                                                                   \
    Grads backward(const Tensor& g, const Needs&) { return {deriv}; }  \
  };

FG_UNARY_GRAD(NegOp, "neg", fg::neg(x), false, fg::neg(g))
FG_UNARY_GRAD(AffineOp, "affine", fg::affine(x, p0, p1), false, g * p0)
FG_UNARY_GRAD(ExpOp, "exp", fg::exp(x), true, g * s)
FG_UNARY_GRAD(LogOp, "log", fg::log(x), false, g / s)
FG_UNARY_GRAD(SqrtOp, "sqrt", fg::sqrt(x), true, g / (s * 2.0))
FG_UNARY_GRAD(PowOp, "pow", fg::pow(x, p0), false, g * (fg::pow(s, p0 - 1) * p0))
FG_UNARY_GRAD(SquareOp, "square", fg::square(x), false, g * (s * 2.0))
FG_UNARY_GRAD(AbsOp, "abs", fg::abs(x), false, g * fg::sign(s))
FG_UNARY_GRAD(TanhOp, "tanh", fg::tanh(x), true, g * (1.0 - fg::square(s)))
FG_UNARY_GRAD(SigmoidOp, "sigmoid", fg::sigmoid(x), true, g * (s * (1.0 - s)))
FG_UNARY_GRAD(SoftplusOp, "softplus", fg::softplus(x), false, g * fg::sigmoid(s))
// masks are 0/1 in the input dtype, so the gated gradients are plain multiplies
FG_UNARY_GRAD(ReluOp, "relu", fg::relu(x), false, g * fg::gt(s, zero_like_scalar(s)))
// elu'(x) = 1 for x > 0, else alpha*exp(x) = y + alpha
FG_UNARY_GRAD(EluOp, "elu", fg::elu(x, p0), true,
              g * fg::where(fg::gt(s, zero_like_scalar(s)), fg::scalar(1.0, s.dtype(), s.device()), s + p0))
FG_UNARY_GRAD(ClampOp, "clamp", fg::clamp(x, p0, p1), false,
              g * (fg::ge(s, fg::scalar(p0, s.dtype(), s.device())) *
                   fg::le(s, fg::scalar(p1, s.dtype(), s.device()))))
#undef FG_UNARY_GRAD

struct WhereOp {
  static constexpr const char* name = "where";
  Tensor cond;
  Shape sa, sb;
  Tensor forward(const std::vector<Tensor>& in) {
    sa = in[0].shape();
    sb = in[1].shape();
    return fg::where(cond, in[0], in[1]);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    Tensor z = zero_like_scalar(g);
    return {n[0] ? sum_to(fg::where(cond, g, z), sa) : Tensor{}, n[1] ? sum_to(fg::where(cond, z, g), sb) : Tensor{}};
  }
};

struct ConcatEluOp {
  static constexpr const char* name = "concat_elu";
  Tensor y;
  Tensor forward(const std::vector<Tensor>& in) {
    y = fg::concat_elu(in[0]);
    return y;
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::concat_elu_backward(y, g)}; }
};

template <class Op>
Var unary_apply(const Var& x, double p0 = 0, double p1 = 0) {
  Op op;
  op.p0 = p0;
  op.p1 = p1;
  return apply(std::move(op), {x});
}

}  // namespace

Var add(const Var& a, const Var& b) { return apply(AddOp{}, {a, b}); }
Var sub(const Var& a, const Var& b) { return apply(SubOp{}, {a, b}); }
Var mul(const Var& a, const Var& b) { return apply(MulOp{}, {a, b}); }
Var div(const Var& a, const Var& b) { return apply(DivOp{}, {a, b}); }
Var neg(const Var& x) { return unary_apply<NegOp>(x); }
Var affine(const Var& x, double s, double t) { return unary_apply<AffineOp>(x, s, t); }
Var exp(const Var& x) { return unary_apply<ExpOp>(x); }
Var log(const Var& x) { return unary_apply<LogOp>(x); }
Var sqrt(const Var& x) { return unary_apply<SqrtOp>(x); }
Var pow(const Var& x, double e) { return unary_apply<PowOp>(x, e); }
Var square(const Var& x) { return unary_apply<SquareOp>(x); }
Var abs(const Var& x) { return unary_apply<AbsOp>(x); }
Var tanh(const Var& x) { return unary_apply<TanhOp>(x); }
Var sigmoid(const Var& x) { return unary_apply<SigmoidOp>(x); }
Var softplus(const Var& x) { return unary_apply<SoftplusOp>(x); }
Var relu(const Var& x) { return unary_apply<ReluOp>(x); }
Var elu(const Var& x, double alpha) { return unary_apply<EluOp>(x, alpha); }
Var clamp(const Var& x, double lo, double hi) { return unary_apply<ClampOp>(x, lo, hi); }
Var where(const Tensor& cond, const Var& a, const Var& b) {
  WhereOp op;
  op.cond = cond;
  return apply(std::move(op), {a, b});
}

Var concat_elu(const Var& x) { return apply(ConcatEluOp{}, {x}); }

Var operator+(const Var& a, const Var& b) { return add(a, b); }
Var operator-(const Var& a, const Var& b) { return sub(a, b); }
Var operator*(const Var& a, const Var& b) { return mul(a, b); }
Var operator/(const Var& a, const Var& b) { return div(a, b); }
Var operator-(const Var& x) { return neg(x); }
Var operator+(const Var& a, double s) { return affine(a, 1.0, s); }
Var operator-(const Var& a, double s) { return affine(a, 1.0, -s); }
Var operator*(const Var& a, double s) { return affine(a, s, 0.0); }
Var operator/(const Var& a, double s) { return affine(a, 1.0 / s, 0.0); }
Var operator+(double s, const Var& a) { return affine(a, 1.0, s); }
Var operator-(double s, const Var& a) { return affine(a, -1.0, s); }
Var operator*(double s, const Var& a) { return affine(a, s, 0.0); }

}  // namespace fg::ag
