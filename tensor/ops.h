// The op API: free functions on Tensors. Each checks shapes, dtypes and devices, throws fg::Error
// naming the op and the shapes, allocates the output and dispatches to backend_for(device).
// Not differentiable by themselves; autograd/ wraps them.
#pragma once
#include <optional>
#include <vector>

#include "tensor/backend.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace fg {

// ---- creation ----
Tensor zeros(const Shape& s, DType t = DType::F32, Device d = Device::cpu());
Tensor ones(const Shape& s, DType t = DType::F32, Device d = Device::cpu());
Tensor full(const Shape& s, double v, DType t = DType::F32, Device d = Device::cpu());
Tensor scalar(double v, DType t = DType::F32, Device d = Device::cpu());  // shape []
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double v);
Tensor arange(double start, double end, double step = 1, DType t = DType::F32, Device d = Device::cpu());
Tensor linspace(double start, double end, int64_t n, DType t = DType::F32, Device d = Device::cpu());
Tensor rand(const Shape& s, DType t = DType::F32, Device d = Device::cpu(), Generator* g = nullptr);
Tensor uniform(const Shape& s, double lo, double hi, DType t = DType::F32, Device d = Device::cpu(),
               Generator* g = nullptr);
Tensor randn(const Shape& s, DType t = DType::F32, Device d = Device::cpu(), Generator* g = nullptr);
Tensor normal(const Shape& s, double mean, double std, DType t = DType::F32, Device d = Device::cpu(),
              Generator* g = nullptr);
Tensor cast(const Tensor& x, DType t);

// ---- elementwise: NumPy broadcasting; comparisons give 0/1 in the inputs' dtype ----
Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p = {});
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor floor(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor pow(const Tensor& x, double exponent);
Tensor square(const Tensor& x);
Tensor affine(const Tensor& x, double scale, double shift);  // scale * x + shift
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond != 0 ? a : b
// [elu(x), elu(-x)] concatenated along dim 1 (channels); the backward takes that output.
Tensor concat_elu(const Tensor& x);
Tensor concat_elu_backward(const Tensor& y, const Tensor& grad_y);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);

// ---- reductions over a set of dims (empty = all dims) ----
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Sums a broadcast result back to `shape` (the gradient of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor broadcast_to(const Tensor& x, const Shape& shape);

// ---- layout ----
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end), negatives wrap
Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start);
// The sizes chunk() cuts dim into, and the checked start offsets of split()'s pieces (throws naming
// the sizes and the shape); shared by the Tensor and Var versions.
std::vector<int64_t> chunk_sizes(const Shape& s, int64_t n, int64_t dim);
std::vector<int64_t> split_offsets(const Shape& s, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 1);

// ---- dense ----
// a [..., M, K] @ b [..., K, N]; batch dims broadcast when one side has none (or batch 1).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

struct Pair2 {
  int64_t h = 0, w = 0;
  Pair2(int64_t v = 0) : h(v), w(v) {}
  Pair2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};
struct ConvOptions {
  Pair2 stride{1}, padding{0}, dilation{1};
  int64_t groups = 1;
  Pair2 output_padding{0};  // conv_transpose2d only
};
Conv2dParams conv2d_params(const Shape& x, const Shape& w, const ConvOptions& o, const char* op);
// x [N,C,H,W], w [O, C/groups, KH, KW], bias [O] or null
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr, const ConvOptions& o = {});
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const ConvOptions& o);
Tensor conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Shape& w_shape, const ConvOptions& o,
                               Tensor* dbias = nullptr);
// x [N,Cin,H,W], w [Cin, Cout/groups, KH, KW] (PyTorch's layout), bias [Cout] or null
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr, const ConvOptions& o = {});
// The conv2d whose backward-data is this transposed conv (x plays the conv's output).
Conv2dParams conv_transpose2d_params(const Shape& x, const Shape& w, const ConvOptions& o);

struct LayerNormResult {
  Tensor y, mean, rstd;
  double eps = 1e-5;
};
// Normalizes over `dim` (biased variance, as PyTorch); gamma/beta [size(dim)] or null.
LayerNormResult layer_norm(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta, double eps = 1e-5);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, int64_t dim, const Tensor* gamma,
                                   const LayerNormResult& fwd, bool need_affine_grads);

// ---- helpers ----
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
double max_abs_diff(const Tensor& a, const Tensor& b);
void set_num_threads(int n);  // CPU threads for our loops and oneDNN
int num_threads();

}  // namespace fg
