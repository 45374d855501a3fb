// Differentiable elementwise ops. Every op of flowgrad/detail/elementwise.def shares one of two generic
// nodes: UnaryNode saves what the table says its derivative reads (input and/or output) and runs
// the table's fused backward kernel; BinaryNode saves both inputs and gets da and db from one
// kernel (summed back to broadcast shapes), or passes g through where the table says so.
#include "flowgrad/autograd/functional.h"
#include "tensor/ops_internal.h"

namespace fg::ag {

namespace {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

struct UnaryNode {
  UnaryOp op{};
  UnaryParams p;
  Tensor x, y;
  OpId id() const { return op_id(op); }
  Tensor forward(const std::vector<Tensor>& in) {
    Tensor out = fg::unary(op, in[0], p);
    if (unary_saves_x(op)) x = in[0];
    if (unary_saves_y(op)) y = out;
    return out;
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::unary_backward(op, x, y, g, p)}; }
};

struct BinaryNode {
  BinaryOp op{};
  Tensor a, b;  // only when the table's derivative reads them
  Shape sa, sb;
  OpId id() const { return op_id(op); }
  Tensor forward(const std::vector<Tensor>& in) {
    sa = in[0].shape();
    sb = in[1].shape();
    if (binary_saves_inputs(op)) {
      a = in[0];
      b = in[1];
    }
    return fg::binary(op, in[0], in[1]);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    // unsaved inputs: stride-0 stand-ins of the right shape, which the kernel does not read
    Tensor zero = a.defined() ? Tensor() : scalar(0.0, g.dtype(), g.device());
    BinaryGrads r = fg::binary_backward(op, a.defined() ? a : broadcast_to(zero, sa),
                                        b.defined() ? b : broadcast_to(zero, sb), g, n[0], n[1]);
    return {r.da, r.db};
  }
};

struct WhereOp {
  Tensor cond;
  Shape sa, sb;
  OpId id() const { return OpId::where; }
  Tensor forward(const std::vector<Tensor>& in) {
    sa = in[0].shape();
    sb = in[1].shape();
    return fg::where(cond, in[0], in[1]);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    Tensor z = scalar(0.0, g.dtype(), g.device());
    return {n[0] ? sum_to(fg::where(cond, g, z), sa) : Tensor{}, n[1] ? sum_to(fg::where(cond, z, g), sb) : Tensor{}};
  }
};

struct ConcatEluOp {
  Tensor y;
  OpId id() const { return OpId::concat_elu; }
  Tensor forward(const std::vector<Tensor>& in) {
    y = fg::concat_elu(in[0]);
    return y;
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::concat_elu_backward(y, g)}; }
};

// Saves h only: the backward recomputes sigmoid(b) and passes the gradient straight to x.
struct GatedResidualOp {
  Tensor h;
  OpId id() const { return OpId::gated_residual; }
  Tensor forward(const std::vector<Tensor>& in) {
    h = in[1];
    return fg::gated_residual(in[0], h);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    return {n[0] ? g : Tensor{}, n[1] ? fg::gated_residual_backward(h, g) : Tensor{}};
  }
};

// Outputs y and logdet; saves z and h, from which the backward recomputes s.
struct SigmoidCouplingOp {
  Tensor z, h;
  int64_t ca = 0;
  double shift = 0;
  bool reverse = false;
  OpId id() const { return OpId::sigmoid_coupling; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) {
    z = in[0];
    h = in[1];
    SigmoidCoupling r = fg::sigmoid_coupling(z, h, ca, shift, reverse);
    return {r.y, r.logdet};
  }
  Grads backward(std::vector<Tensor>& g, const Needs& n) {
    SigmoidCouplingGrads d = fg::sigmoid_coupling_backward(z, h, g[0], g[1], ca, shift, reverse);
    return {n[0] ? d.dz : Tensor{}, n[1] ? d.dh : Tensor{}};
  }
};

// Inputs x, [dx,] beta; outputs y[, dy]. Saves the inputs, from which the backward recomputes.
struct LipSwishOp {
  Tensor x, dx, beta;
  OpId id() const { return OpId::lipswish; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) {
    x = in[0];
    if (in.size() == 3) dx = in[1];
    beta = in.back();
    LipSwishResult r = fg::lipswish(x, dx, beta);
    if (!dx.defined()) return {r.y};
    return {r.y, r.dy};
  }
  Grads backward(std::vector<Tensor>& g, const Needs& n) {
    const Tensor gdy = g.size() > 1 ? g[1] : Tensor();
    if (!g[0].defined() && !gdy.defined()) return Grads(n.size());
    LipSwishGrads d = fg::lipswish_backward(x, dx, beta, g[0], gdy);
    Grads r{n[0] ? d.x : Tensor{}};
    if (dx.defined()) r.push_back(n[1] ? d.dx : Tensor{});
    r.push_back(n.back() ? d.beta : Tensor{});
    return r;
  }
};

Var unary_apply(UnaryOp op, const Var& x, UnaryParams p) {
  UnaryNode n;
  n.op = op;
  n.p = p;
  return apply(std::move(n), {x});
}

Var binary_apply(BinaryOp op, const Var& a, const Var& b) {
  BinaryNode n;
  n.op = op;
  return apply(std::move(n), {a, b});
}

}  // namespace

#define FG_UNARY(Name, fn, np, ...) \
  Var fn(const Var& x FG_EW_PARAMS_##np) { return unary_apply(UnaryOp::Name, x, FG_EW_ARGS_##np); }
#define FG_BINARY(Name, fn, ...) \
  Var fn(const Var& a, const Var& b) { return binary_apply(BinaryOp::Name, a, b); }
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY

Var where(const Tensor& cond, const Var& a, const Var& b) {
  WhereOp op;
  op.cond = cond;
  return apply(std::move(op), {a, b});
}

Var concat_elu(const Var& x) { return apply(ConcatEluOp{}, {x}); }
Var gated_residual(const Var& x, const Var& h) { return apply(GatedResidualOp{}, {x, h}); }

std::vector<Var> sigmoid_coupling(const Var& z, const Var& h, int64_t ca, double shift, bool reverse) {
  SigmoidCouplingOp op;
  op.ca = ca;
  op.shift = shift;
  op.reverse = reverse;
  return apply_multi(std::move(op), {z, h});
}

std::vector<Var> lipswish(const Var& x, const Var& dx, const Var& beta) {
  return apply_multi(LipSwishOp{}, dx.defined() ? std::vector<Var>{x, dx, beta} : std::vector<Var>{x, beta});
}

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
