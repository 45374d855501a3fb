// The op layer's internal half: the backward kernels autograd/ builds its nodes from, and the
// pieces of graph rewrites (a conv as a 1x1 conv plus tap_sum), with the same argument checks as
// the public op API (flowgrad/tensor/ops.h). Not installed.
#pragma once
#include "flowgrad/tensor/ops.h"

namespace fg {

// The elementwise table's names and what each op's backward reads (its `saves` column).
const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);
// What a unary op's backward reads (elementwise.def's `saves`).
bool unary_saves_x(UnaryOp op);
bool unary_saves_y(UnaryOp op);
bool binary_saves_inputs(BinaryOp op);  // elementwise.def's AB
constexpr int kGradAIsG = 1, kGradBIsG = 2;
int binary_grad_flags(BinaryOp op);

// Fused backward kernels of the table's ops: dx for a unary op from g and the saved x and/or y
// (undefined when not saved); da and db (each optional) of a binary op, summed back to a's and
// b's shapes.
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g, UnaryParams p = {});
struct BinaryGrads {
  Tensor da, db;
};
BinaryGrads binary_backward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& g, bool need_a, bool need_b);
// concat_elu's backward from its output y; gated_residual's dh from h (its dx is grad_y itself).
Tensor concat_elu_backward(const Tensor& y, const Tensor& grad_y);
Tensor gated_residual_backward(const Tensor& h, const Tensor& grad_y);
// dz and dh from the gradients of y and of logdet (either may be undefined: no gradient there)
struct SigmoidCouplingGrads {
  Tensor dz, dh;
};
SigmoidCouplingGrads sigmoid_coupling_backward(const Tensor& z, const Tensor& h, const Tensor& grad_y,
                                               const Tensor& grad_logdet, int64_t ca, double shift, bool reverse);
// lipswish's backward from the gradients of y and of dy (either may be undefined): gx, gdx (only
// with a gradient of dy) and gbeta (one element)
struct LipSwishGrads {
  Tensor x, dx, beta;
};
LipSwishGrads lipswish_backward(const Tensor& x, const Tensor& dx, const Tensor& beta, const Tensor& grad_y,
                                const Tensor& grad_dy);
// slice's adjoint: g placed at [start, start + g.size(dim)) of zeros shaped in_shape
Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start);

// Conv2dParams of a conv of x (shape, blocked per o) with a weight of shape w; throws naming `op`.
Conv2dParams conv2d_params(const Shape& x, const Shape& w, const ConvOptions& o, const char* op);
// The conv2d whose backward-data is conv_transpose2d of x with w (x plays the conv's output).
Conv2dParams conv_transpose2d_params(const Shape& x, const Shape& w, const ConvOptions& o);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const ConvOptions& o);
Tensor conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Shape& w_shape, const ConvOptions& o,
                               Tensor* dbias = nullptr);

// A K x K stride-1 conv with padding K/2 as a 1x1 conv to K*K*O channels (tap-major: channel
// (i*K + j)*O + o holds tap (i, j) of output o) followed by this sum of the shifted taps:
// z [N, K*K*O, H, W] -> y [N, O, H, W] (TapSumParams). Cheaper on the CPU for convs with few
// outputs, which oneDNN pads to a block of 8 or 16 output channels (the conv planner decides).
// A channel-blocked z [N, P/b, H, W, b] (P = tap_channels(k, o, b)) needs o, which P does not
// determine; y is NCHW either way.
Tensor tap_sum(const Tensor& z, int64_t k, int64_t o = 0);
// z's channels for o outputs: k*k*o, rounded up to a whole number of blocks of b when b > 0
int64_t tap_channels(int64_t k, int64_t o, int64_t block = 0);
// its adjoint: [N, O, H, W] -> [N, K*K*O, H, W], or with block b > 0 the blocked [N, P/b, H, W, b]
Tensor tap_sum_backward(const Tensor& dy, int64_t k, int64_t block = 0);

// Whether the conv of x with a weight of shape w and options o (channel blocks included) runs on
// fast kernels forward and, with backward, in both backward passes (x's backend's conv_choice:
// on the CPU, the planner's answer).
bool conv_runs_fast(const Tensor& x, const Shape& w, const ConvOptions& o, bool backward = true);

// layer_norm with the saved statistics its backward needs (mean and rstd per normalized row).
struct LayerNormResult {
  Tensor y, mean, rstd;
  double eps = 1e-5;
  int64_t block = 0;
};
LayerNormResult layer_norm_forward(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta,
                                   double eps = 1e-5, int64_t block = 0);
LayerNormResult gated_residual_layer_norm_forward(const Tensor& x, const Tensor& h, const Tensor* gamma,
                                                  const Tensor* beta, double eps = 1e-5, int64_t block = 0);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, int64_t dim, const Tensor* gamma,
                                   const LayerNormResult& fwd, bool need_affine_grads);

}  // namespace fg
