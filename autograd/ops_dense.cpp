// Differentiable dense ops: matmul, conv2d, conv_transpose2d (its backward is conv2d forward
// and conv2d backward-weights with roles swapped), layer norm, and the small-matrix slogdet and
// inverse used by Glow's 1x1 convolution.
#include "flowgrad/autograd/functional.h"
#include "flowgrad/tensor/linalg.h"
#include "tensor/backend.h"
#include "tensor/ops_internal.h"

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

// conv2d with its fused neighbours. o.relu: the output is relu(conv + bias); it is kept, and its
// mask is ReLU's derivative. concat_elu_input: the conv reads concat_elu(x); x is kept, half the
// size, and concat_elu(x) is recomputed in backward (one elementwise pass) instead of kept alive.
struct Conv2dOp {
  bool concat_elu_input = false;
  OpId id() const { return concat_elu_input ? OpId::concat_elu_conv2d : OpId::conv2d; }
  ConvOptions o;
  bool has_bias = false;
  Tensor x, w, y;
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    w = in[1];
    has_bias = in.size() > 2;
    Tensor out = fg::conv2d(concat_elu_input ? fg::concat_elu(x) : x, w, has_bias ? &in[2] : nullptr, o);
    if (o.relu) y = out;
    return out;
  }
  Grads backward(const Tensor& g_out, const Needs& n) {
    const Tensor g = o.relu ? fg::unary_backward(UnaryOp::Relu, Tensor{}, y, g_out) : g_out;
    const Tensor input = concat_elu_input ? fg::concat_elu(x) : x;
    ConvOptions plain = o;
    plain.relu = false;
    Grads out(has_bias ? 3 : 2);
    if (n[0]) {
      Tensor d = fg::conv2d_backward_data(g, w, input.shape(), plain);
      out[0] = concat_elu_input ? fg::concat_elu_backward(input, d) : d;
    }
    if (n[1] || (has_bias && n[2])) {
      Tensor db;
      out[1] = fg::conv2d_backward_weights(input, g, w.shape(), plain, has_bias ? &db : nullptr);
      if (has_bias) out[2] = db;
    }
    return out;
  }
};

struct TapSumOp {
  OpId id() const { return OpId::tap_sum; }
  int64_t k = 3, out = 0, block = 0;
  Tensor forward(const std::vector<Tensor>& in) {
    block = in[0].dim() == 5 ? in[0].size(4) : 0;
    return fg::tap_sum(in[0], k, out);
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::tap_sum_backward(g, k, block)}; }
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

// gated: the normalized input is gated_residual(x, h) (inputs x, h, then gamma and beta), over the
// channels. The forward never writes it; the backward recomputes it (one elementwise pass) for
// the norm's backward, then passes dr to x and through gated_residual's backward to h. It keeps x
// and h; the norm alone keeps its input, x's size.
struct LayerNormOp {
  bool gated = false;
  OpId id() const { return gated ? OpId::gated_residual_layer_norm : OpId::layer_norm; }
  int64_t dim = -1, block = 0;
  double eps = 1e-5;
  bool affine = false;
  Tensor x, h, gamma;
  LayerNormResult fwd;
  Tensor forward(const std::vector<Tensor>& in) {
    const size_t k = gated ? 2 : 1;  // where gamma and beta start
    x = in[0];
    if (gated) h = in[1];
    affine = in.size() == k + 2;
    if (affine) gamma = in[k];
    const Tensor* ga = affine ? &in[k] : nullptr;
    const Tensor* be = affine ? &in[k + 1] : nullptr;
    fwd = gated ? fg::gated_residual_layer_norm_forward(x, h, ga, be, eps, block)
                : fg::layer_norm_forward(x, dim, ga, be, eps, block);
    Tensor y = fwd.y;
    fwd.y = Tensor();  // not needed by backward
    return y;
  }
  Grads backward(const Tensor& g, const Needs& n) {
    const size_t k = gated ? 2 : 1;
    const bool need_affine = affine && (n[k] || n[k + 1]);
    LayerNormGrads lg = fg::layer_norm_backward(g, gated ? fg::gated_residual(x, h) : x, gated ? 1 : dim,
                                                affine ? &gamma : nullptr, fwd, need_affine);
    Grads out{lg.dx};
    if (gated) out.push_back(n[1] ? fg::gated_residual_backward(h, lg.dx) : Tensor{});
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

namespace {
// A conv the backend would rather run as a 1x1 conv to K*K*O channels followed by tap_sum (the CPU
// planner says so for blocked convs with few outputs: the nets' last convs, see tensor/cpu/
// conv_plan.cpp). The 1x1 conv writes its K*K*O channels blocked, padded with zero weights to a
// whole block, which tap_sum reads as they are. Built from Vars, so dx and dw share one tap_sum
// backward.
Var conv_as_taps(const Var& x, const Var& w, const Var* bias, ConvOptions o, bool concat_elu_input) {
  const int64_t out = w.size(0), in = w.size(1), k = w.size(2), taps = k * k * out, b = o.src_block;
  // w1 [P, C, 1, 1], tap-major: row (i*K + j)*O + o is w[o, :, i, j]; rows K*K*O..P are zero
  Var w1 = reshape(contiguous(permute(w, {2, 3, 0, 1})), {taps, in, 1, 1});
  const int64_t padded = tap_channels(k, out, b);
  if (padded > taps) w1 = concat({w1, Var(zeros({padded - taps, in, 1, 1}, w.dtype(), w.device()))}, 0);
  o.padding = Pair2{0};
  o.dst_block = b;
  Var y = tap_sum(concat_elu_input ? concat_elu_conv2d(x, w1, nullptr, o) : conv2d(x, w1, nullptr, o), k, out);
  return bias ? y + reshape(*bias, {1, out, 1, 1}) : y;
}

Var conv_op(const Var& x, const Var& w, const Var* bias, const ConvOptions& o, bool concat_elu_input) {
  Shape in = x.shape();  // the conv's input: concat_elu doubles the channels (dim 1, blocked or not)
  if (concat_elu_input && in.size() >= 2) in[1] *= 2;
  const Conv2dParams p = conv2d_params(in, w.shape(), o, "conv2d");
  if (backend_of(x.device()).conv_choice(p, x.dtype(), ConvDir::Forward).taps)
    return conv_as_taps(x, w, bias, o, concat_elu_input);
  Conv2dOp op;
  op.concat_elu_input = concat_elu_input;
  op.o = o;
  return bias ? apply(std::move(op), {x, w, *bias}) : apply(std::move(op), {x, w});
}
}  // namespace

Var conv2d(const Var& x, const Var& w, const Var* bias, const ConvOptions& o) { return conv_op(x, w, bias, o, false); }

Var concat_elu_conv2d(const Var& x, const Var& w, const Var* bias, const ConvOptions& o) {
  return conv_op(x, w, bias, o, true);
}

Var tap_sum(const Var& z, int64_t k, int64_t o) {
  TapSumOp op;
  op.k = k;
  op.out = o;
  return apply(std::move(op), {z});
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
  LayerNormOp op;
  op.gated = true;
  op.eps = eps;
  op.block = block;
  return gamma ? apply(std::move(op), {x, h, *gamma, *beta}) : apply(std::move(op), {x, h});
}

Var slogdet(const Var& a) { return apply(SlogdetOp{}, {a}); }
Var inverse(const Var& a) { return apply(InverseOp{}, {a}); }

}  // namespace fg::ag
