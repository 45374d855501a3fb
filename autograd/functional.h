// Differentiable functions on Vars: the same names as tensor/ops.h. Each is one op struct with a
// forward and a backward (autograd/ops_*.cpp); gradients of broadcast inputs are summed back
// to the input's shape.
#pragma once
#include "autograd/var.h"

namespace fg::ag {

Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var neg(const Var& x);
Var affine(const Var& x, double scale, double shift);  // scale * x + shift
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var pow(const Var& x, double exponent);
Var square(const Var& x);
Var abs(const Var& x);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var softplus(const Var& x);
Var relu(const Var& x);
Var elu(const Var& x, double alpha = 1.0);
Var clamp(const Var& x, double lo, double hi);
Var where(const Tensor& cond, const Var& a, const Var& b);  // cond is not differentiated
Var concat_elu(const Var& x);  // [elu(x), elu(-x)] along dim 1, fused

Var sum(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var mean(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var amax(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var amin(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Var logsumexp(const Var& x, std::vector<int64_t> dims = {}, bool keepdim = false);

Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const std::vector<int64_t>& perm);
Var concat(const std::vector<Var>& xs, int64_t dim);
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end);
std::vector<Var> chunk(const Var& x, int64_t n, int64_t dim);
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t dim);
Var broadcast_to(const Var& x, const Shape& shape);
Var flatten(const Var& x, int64_t start_dim = 1);
Var unsqueeze(const Var& x, int64_t dim);

Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var conv2d(const Var& x, const Var& w, const Var* bias = nullptr, const ConvOptions& o = {});
Var conv_transpose2d(const Var& x, const Var& w, const Var* bias = nullptr, const ConvOptions& o = {});
Var layer_norm(const Var& x, int64_t dim, const Var* gamma, const Var* beta, double eps = 1e-5);
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
