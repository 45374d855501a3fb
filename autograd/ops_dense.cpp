// Differentiable dense ops: matmul, conv2d, conv_transpose2d (its backward is conv2d forward
// and conv2d backward-weights with roles swapped), layer norm, and the small-matrix slogdet and
// inverse used by Glow's 1x1 convolution.
#include "autograd/functional.h"
#include "tensor/linalg.h"

namespace fg::ag {

namespace {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

struct MatmulOp {
  OpId id() const { return OpId::matmul; }
  bool ta = false, tb = false;
  Tensor a, b;
  Tensor forward(const std::vector<Tensor>& in) {
    a = in[0];
    b = in[1];
    return fg::matmul(a, b, ta, tb);
  }
  // dop(A) = g op(B)^T and dop(B) = op(A)^T g, transposed back where the operand was.
  Grads backward(const Tensor& g, const Needs& n) {
    Tensor da, db;
    if (n[0]) da = sum_to(ta ? fg::matmul(b, g, tb, true) : fg::matmul(g, b, false, !tb), a.shape());
    if (n[1]) db = sum_to(tb ? fg::matmul(g, a, true, ta) : fg::matmul(a, g, !ta, false), b.shape());
    return {da, db};
  }
};

// With o.relu the output is relu(conv + bias): it is kept, and its mask is ReLU's derivative.
struct Conv2dOp {
  OpId id() const { return OpId::conv2d; }
  ConvOptions o;
  bool has_bias = false;
  Tensor x, w, y;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    w = in[1];
    has_bias = in.size() > 2;
    Tensor out = fg::conv2d(x, w, has_bias ? &in[2] : nullptr, o);
    if (o.relu) y = out;
    return out;
  }
  Grads backward(const Tensor& g_out, const Needs& n) {
    const Tensor g = o.relu ? fg::unary_backward(UnaryOp::Relu, Tensor{}, y, g_out) : g_out;
    ConvOptions plain = o;
    plain.relu = false;
    Grads out(has_bias ? 3 : 2);
    if (n[0]) out[0] = fg::conv2d_backward_data(g, w, x.shape(), plain);
    if (n[1] || (has_bias && n[2])) {
      Tensor db;
      out[1] = fg::conv2d_backward_weights(x, g, w.shape(), plain, has_bias ? &db : nullptr);
      if (has_bias) out[2] = db;
    }
    return out;
  }
};

// conv2d(concat_elu(x), w, bias) as one node: it keeps x, half the size of concat_elu(x), and
// recomputes concat_elu(x) in backward (one elementwise pass) instead of keeping it alive.
struct ConcatEluConv2dOp {
  OpId id() const { return OpId::concat_elu_conv2d; }
  ConvOptions o;
  bool has_bias = false;
  Tensor x, w;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    w = in[1];
    has_bias = in.size() > 2;
    return fg::conv2d(fg::concat_elu(x), w, has_bias ? &in[2] : nullptr, o);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    const Tensor y = fg::concat_elu(x);
    Grads out(has_bias ? 3 : 2);
    if (n[0]) out[0] = fg::concat_elu_backward(y, fg::conv2d_backward_data(g, w, y.shape(), o));
    if (n[1] || (has_bias && n[2])) {
      Tensor db;
      out[1] = fg::conv2d_backward_weights(y, g, w.shape(), o, has_bias ? &db : nullptr);
      if (has_bias) out[2] = db;
    }
    return out;
  }
};

struct ConvTranspose2dOp {
  OpId id() const { return OpId::conv_transpose2d; }
  ConvOptions o;
  bool has_bias = false;
  Tensor x, w;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    w = in[1];
    has_bias = in.size() > 2;
    return fg::conv_transpose2d(x, w, has_bias ? &in[2] : nullptr, o);
  }
  Grads backward(const Tensor& g, const Needs& n) {
    Grads out(has_bias ? 3 : 2);
    ConvOptions co = o;
    co.output_padding = 0;
    if (n[0]) out[0] = fg::conv2d(g, w, nullptr, co);
    if (n[1]) out[1] = fg::conv2d_backward_weights(g, x, w.shape(), co);
    if (has_bias && n[2]) out[2] = fg::sum(g, {0, 2, 3});
    return out;
  }
};

struct LayerNormOp {
  OpId id() const { return OpId::layer_norm; }
  int64_t dim = -1, block = 0;
  double eps = 1e-5;
  bool affine = false;
  Tensor x, gamma;
  LayerNormResult fwd;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    affine = in.size() == 3;
    if (affine) gamma = in[1];
    fwd = fg::layer_norm(x, dim, affine ? &in[1] : nullptr, affine ? &in[2] : nullptr, eps, block);
    Tensor y = fwd.y;
    fwd.y = Tensor();  // not needed by backward
    return y;
  }
  Grads backward(const Tensor& g, const Needs& n) {
    bool need_affine = affine && (n[1] || n[2]);
    LayerNormGrads lg = fg::layer_norm_backward(g, x, dim, affine ? &gamma : nullptr, fwd, need_affine);
    if (!affine) return {lg.dx};
    return {lg.dx, lg.dgamma, lg.dbeta};
  }
};

// layer_norm(gated_residual(x, h)) over the channels: the forward never writes the residual r; the
// backward recomputes it (one elementwise pass) for the norm's backward, then passes dr to x and
// through gated_residual's backward to h. Keeps x and h (the norm alone kept r, x's size).
struct GatedResidualLayerNormOp {
  OpId id() const { return OpId::gated_residual_layer_norm; }
  int64_t block = 0;
  double eps = 1e-5;
  bool affine = false;
  Tensor x, h, gamma;
  LayerNormResult fwd;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    h = in[1];
    affine = in.size() == 4;
    if (affine) gamma = in[2];
    fwd = fg::gated_residual_layer_norm(x, h, affine ? &in[2] : nullptr, affine ? &in[3] : nullptr, eps, block);
    Tensor y = fwd.y;
    fwd.y = Tensor();  // not needed by backward
    return y;
  }
  Grads backward(const Tensor& g, const Needs& n) {
    const bool need_affine = affine && (n[2] || n[3]);
    LayerNormGrads lg = fg::layer_norm_backward(g, fg::gated_residual(x, h), 1, affine ? &gamma : nullptr, fwd,
                                                need_affine);
    Grads out{n[0] ? lg.dx : Tensor{}, n[1] ? fg::gated_residual_backward(h, lg.dx) : Tensor{}};
    if (affine) {
      out.push_back(lg.dgamma);
      out.push_back(lg.dbeta);
    }
    return out;
  }
};

struct SlogdetOp {
  OpId id() const { return OpId::slogdet; }
  Tensor a;
  Tensor forward(const std::vector<Tensor>& in) {
    a = in[0];
    return fg::logabsdet(a);  // on the device, no host read (-inf when singular)
  }
  // d log|det A| / dA = A^{-T}
  Grads backward(const Tensor& g, const Needs&) { return {fg::transpose(fg::inverse(a), 0, 1) * g}; }
};

struct InverseOp {
  OpId id() const { return OpId::inverse; }
  Tensor y;
  Tensor forward(const std::vector<Tensor>& in) {
    y = fg::inverse(in[0]);
    return y;
  }
  // dA = -Y^T g Y^T
  Grads backward(const Tensor& g, const Needs&) {
    return {fg::neg(fg::matmul(fg::matmul(y, g, true, false), y, false, true))};
  }
};

}  // namespace

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
  MatmulOp op;
  op.ta = ta;
  op.tb = tb;
  return apply(std::move(op), {a, b});
}

Var conv2d(const Var& x, const Var& w, const Var* bias, const ConvOptions& o) {
  Conv2dOp op;
  op.o = o;
  return bias ? apply(std::move(op), {x, w, *bias}) : apply(std::move(op), {x, w});
}

Var concat_elu_conv2d(const Var& x, const Var& w, const Var* bias, const ConvOptions& o) {
  ConcatEluConv2dOp op;
  op.o = o;
  return bias ? apply(std::move(op), {x, w, *bias}) : apply(std::move(op), {x, w});
}

Var conv_transpose2d(const Var& x, const Var& w, const Var* bias, const ConvOptions& o) {
  ConvTranspose2dOp op;
  op.o = o;
  return bias ? apply(std::move(op), {x, w, *bias}) : apply(std::move(op), {x, w});
}

Var layer_norm(const Var& x, int64_t dim, const Var* gamma, const Var* beta, double eps, int64_t block) {
  FG_CHECK((gamma == nullptr) == (beta == nullptr), "layer_norm: give both weight and bias, or neither");
  LayerNormOp op;
  op.dim = dim;
  op.eps = eps;
  op.block = block;
  return gamma ? apply(std::move(op), {x, *gamma, *beta}) : apply(std::move(op), {x});
}

Var gated_residual_layer_norm(const Var& x, const Var& h, const Var* gamma, const Var* beta, double eps, int64_t block) {
  FG_CHECK((gamma == nullptr) == (beta == nullptr), "gated_residual_layer_norm: give both weight and bias, or neither");
  GatedResidualLayerNormOp op;
  op.eps = eps;
  op.block = block;
  return gamma ? apply(std::move(op), {x, h, *gamma, *beta}) : apply(std::move(op), {x, h});
}

Var slogdet(const Var& a) { return apply(SlogdetOp{}, {a}); }
Var inverse(const Var& a) { return apply(InverseOp{}, {a}); }

}  // namespace fg::ag
