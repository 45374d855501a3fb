// Differentiable functions on Vars: the same names as flowgrad/tensor/ops.h. Each is one op struct with a
// forward and a backward (autograd/ops_*.cpp), listed in flowgrad/detail/ops.def; gradients of broadcast
// inputs are summed back to the input's shape. Elementwise ops all share one generic node whose
// backward is the table's fused kernel.
#pragma once
#include "flowgrad/autograd/var.h"

namespace fg::ag {

// from flowgrad/detail/elementwise.def: one Var function per unary and binary op
#define FG_UNARY(Name, fn, np, ...) Var fn(const Var& x FG_EW_PARAMS_##np);
#define FG_BINARY(Name, fn, ...) Var fn(const Var& a, const Var& b);
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
Var where(const Tensor& cond, const Var& a, const Var& b);  // cond is not differentiated
Var concat_elu(const Var& x);  // [elu(x), elu(-x)] along dim 1, fused
Var gated_residual(const Var& x, const Var& h);  // x + a * sigmoid(b), [a, b] = chunk(h, 2, 1), fused
// {y, logdet} of fg::sigmoid_coupling (glow's coupling: y = [za, (zb + t) sigmoid(r + shift)]), fused
std::vector<Var> sigmoid_coupling(const Var& z, const Var& h, int64_t ca, double shift, bool reverse = false);
// LipSwish y = x sigmoid(beta x) / 1.1 (beta: one element), fused; with a tangent dx (defined) also
// dy = f'(x) dx, the forward-mode step of a Jacobian-vector product: {y} or {y, dy}
std::vector<Var> lipswish(const Var& x, const Var& dx, const Var& beta);

Var sum(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var mean(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var amax(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var amin(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var logsumexp(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);

Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const std::vector<int64_t>& perm);
Var contiguous(const Var& x);  // a dense copy of a view (x itself when it is dense)
Var concat(const std::vector<Var>& xs, int64_t dim);
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end);
// views, one node for all pieces: its backward concatenates the pieces' gradients
std::vector<Var> chunk(const Var& x, int64_t n, int64_t dim);
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t dim);
Var flip(const Var& x, int64_t dim);
Var broadcast_to(const Var& x, const Shape& shape);
Var flatten(const Var& x, int64_t start_dim = 1);
Var unsqueeze(const Var& x, int64_t dim);

Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var conv2d(const Var& x, const Var& w, const Var* bias = nullptr, const ConvOptions& o = {});
Var tap_sum(const Var& z, int64_t k, int64_t o = 0);  // fg::tap_sum: the shifted-tap sum of a K x K conv done as 1x1
// conv2d(concat_elu(x), w, bias, o), keeping x instead of concat_elu(x) for backward (half the memory)
Var concat_elu_conv2d(const Var& x, const Var& w, const Var* bias = nullptr, const ConvOptions& o = {});
Var conv_transpose2d(const Var& x, const Var& w, const Var* bias = nullptr, const ConvOptions& o = {});
// block > 0: x is channel-blocked [N, C/b, ..., b] (fg::layer_norm)
Var layer_norm(const Var& x, int64_t dim, const Var* gamma, const Var* beta, double eps = 1e-5, int64_t block = 0);
// layer_norm(gated_residual(x, h), 1, gamma, beta) as one op that never writes the residual
Var gated_residual_layer_norm(const Var& x, const Var& h, const Var* gamma, const Var* beta, double eps = 1e-5,
                              int64_t block = 0);
Var slogdet(const Var& a);   // log|det a| as a 0-d Var
Var inverse(const Var& a);

// operators; scalars fold into affine
Var operator+(const Var& a, const Var& b);
Var operator-(const Var& a, const Var& b);
Var operator*(const Var& a, const Var& b);
Var operator/(const Var& a, const Var& b);
Var operator-(const Var& x);
Var operator+(const Var& a, double s);
Var operator-(const Var& a, double s);
Var operator*(const Var& a, double s);
Var operator/(const Var& a, double s);
Var operator+(double s, const Var& a);
Var operator-(double s, const Var& a);
Var operator*(double s, const Var& a);

}  // namespace fg::ag
