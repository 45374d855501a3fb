// The op API: free functions on Tensors. Each checks shapes, dtypes and devices, throws fg::Error
// naming the op and the shapes, allocates the output and launches a kernel on the tensor's device
// (launch(device), which counts it). Not differentiable by themselves; autograd/ wraps them.
// Elementwise functions are generated from tensor/elementwise.def.
#pragma once
#include <optional>
#include <vector>

#include "tensor/backend.h"
#include "tensor/elementwise_macros.h"
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
#define FG_UNARY(Name, fn, np, ...) Tensor fn(const Tensor& x FG_EW_PARAMS_##np);
#define FG_BINARY(Name, fn, ...) Tensor fn(const Tensor& a, const Tensor& b);
#define FG_COMPARE(Name, fn, ...) Tensor fn(const Tensor& a, const Tensor& b);
#include "tensor/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef FG_COMPARE
// Fused backward kernels of the table's ops: dx for a unary op from g and the saved x and/or y
// (undefined when not saved); da and db (each optional) of a binary op, summed back to a's and
// b's shapes.
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g, UnaryParams p = {});
struct BinaryGrads {
  Tensor da, db;
};
BinaryGrads binary_backward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& g, bool need_a, bool need_b);

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond != 0 ? a : b
// [elu(x), elu(-x)] concatenated along dim 1 (channels); the backward takes that output.
Tensor concat_elu(const Tensor& x);
Tensor concat_elu_backward(const Tensor& y, const Tensor& grad_y);
// GatedConv's output, fused: x + a * sigmoid(b) with [a, b] = chunk(h, 2, dim 1); h has twice x's
// channels. The backward gives dh from h and the output's gradient (dx is that gradient itself).
Tensor gated_residual(const Tensor& x, const Tensor& h);
Tensor gated_residual_backward(const Tensor& h, const Tensor& grad_y);
// Glow's affine coupling with a sigmoid scale, fused (SigmoidCouplingParams): z [N, C, ...] and
// h [N, 2(C - ca), ...] (t, r interleaved) give y [N, C, ...] = [za, (zb + t) s] (reverse:
// [za, zb / s - t]) with s = sigmoid(r + shift), and logdet [N], the sum of log s per sample.
struct SigmoidCoupling {
  Tensor y, logdet;
};
SigmoidCoupling sigmoid_coupling(const Tensor& z, const Tensor& h, int64_t ca, double shift, bool reverse);
// dz and dh from the gradients of y and of logdet (either may be undefined: no gradient there)
struct SigmoidCouplingGrads {
  Tensor dz, dh;
};
SigmoidCouplingGrads sigmoid_coupling_backward(const Tensor& z, const Tensor& h, const Tensor& grad_y,
                                               const Tensor& grad_logdet, int64_t ca, double shift, bool reverse);

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

// ---- layout: views (no copy) ----
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end), negatives wrap
// The sizes chunk() cuts dim into, and the checked start offsets of split()'s pieces (throws naming
// the sizes and the shape); shared by the Tensor and Var versions.
std::vector<int64_t> chunk_sizes(const Shape& s, int64_t n, int64_t dim);
std::vector<int64_t> split_offsets(const Shape& s, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t dim);
Tensor broadcast_to(const Tensor& x, const Shape& shape);  // stride-0 view
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 1);  // a view when the strides allow
// ---- layout: copies ----
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor flip(const Tensor& x, int64_t dim);
// out[i] = x[index[i]] along dim 0 (index: i32 on x's device, values in [0, x.size(0))).
Tensor gather_rows(const Tensor& x, const Tensor& index);
Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start);
// dst (any view, same shape, dtype and device) = src; counts the bytes in the layout counter.
void copy_into(const Tensor& src, Tensor& dst);

// ---- dense (contiguous() is taken at the kernel boundary) ----
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
  // Channel-blocked input and/or output (conv2d and its backward kernels only): 0 for NCHW, or
  // b = conv_channel_block(x) for oneDNN's own nChw{b}c layout as a [N, C/b, H, W, b] tensor, so
  // that conv -> elementwise -> conv chains skip the layout reorders around each conv.
  int64_t src_block = 0, dst_block = 0;
  // conv2d only: y = relu(conv + bias) in one pass (a oneDNN post-op on the CPU)
  bool relu = false;
};
// The channel block that f32 convs on x's device can take and give (8 on AVX2, 16 on AVX-512);
// 0 where there is none (not the CPU, not f32, oneDNN off or absent, or FG_CONV_BLOCKS=0 in the
// environment, which keeps every conv on NCHW: for comparisons).
int64_t conv_channel_block(const Tensor& x);
// Whether the f32 conv of x with a weight of shape w and options o (channel blocks included) runs on
// fast kernels (oneDNN's JIT ones, or ours) forward and, with backward, in both backward passes:
// false off the CPU, without oneDNN, and where only oneDNN's reference kernels take that case (a
// few times slower than NCHW).
bool conv_runs_jit(const Tensor& x, const Shape& w, const ConvOptions& o, bool backward = true);
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

// A K x K stride-1 conv with padding K/2 as a 1x1 conv to K*K*O channels (tap-major: channel
// (i*K + j)*O + o holds tap (i, j) of output o) followed by this sum of the shifted taps:
// z [N, K*K*O, H, W] -> y [N, O, H, W] (TapSumParams). Cheaper on the CPU for convs with few
// outputs, which oneDNN pads to a block of 8 or 16 output channels.
// A channel-blocked z [N, P/b, H, W, b] (P = tap_channels(k, o, b)) needs o, which P does not
// determine; y is NCHW either way.
Tensor tap_sum(const Tensor& z, int64_t k, int64_t o = 0);
// z's channels for o outputs: k*k*o, rounded up to a whole number of blocks of b when b > 0
int64_t tap_channels(int64_t k, int64_t o, int64_t block = 0);
// its adjoint: [N, O, H, W] -> [N, K*K*O, H, W], or with block b > 0 the blocked [N, P/b, H, W, b]
Tensor tap_sum_backward(const Tensor& dy, int64_t k, int64_t block = 0);
struct LayerNormResult {
  Tensor y, mean, rstd;
  double eps = 1e-5;
  int64_t block = 0;
};
// Normalizes over `dim` (biased variance, as PyTorch); gamma/beta [size(dim)] or null.
// block b > 0: x is channel-blocked, [N, C/b, ..., b] as from a conv with dst_block = b (CPU only),
// and is normalized over its C channels (dim must be 1); gamma/beta are [C].
LayerNormResult layer_norm(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta, double eps = 1e-5,
                           int64_t block = 0);
// layer_norm(gated_residual(x, h), 1, ...) in one pass: GatedConv's residual x + a * sigmoid(b),
// [a, b] = chunk(h, 2, 1), is normalized over its channels without being written out (blocked too)
LayerNormResult gated_residual_layer_norm(const Tensor& x, const Tensor& h, const Tensor* gamma, const Tensor* beta,
                                          double eps = 1e-5, int64_t block = 0);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, int64_t dim, const Tensor* gamma,
                                   const LayerNormResult& fwd, bool need_affine_grads);

// ---- multi-tensor (one kernel over a list; a training step's clipping and optimizer) ----
// sum_i sum(x_i^2) as a 0-d f64 tensor on the tensors' device.
Tensor sum_of_squares(const std::vector<Tensor>& xs);
// x_i * factor (a 0-d tensor) for every i.
std::vector<Tensor> scale_all(const std::vector<Tensor>& xs, const Tensor& factor);
// Adam on every parameter in place (tensor/backend.h, AdamParams). `step` is an f64 [1] tensor on
// the parameters' device holding the step count; a non-zero 0-d `skip` makes it a no-op.
void adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip = nullptr);

// ---- helpers ----
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
double max_abs_diff(const Tensor& a, const Tensor& b);
void set_num_threads(int n);  // CPU threads for our loops and oneDNN
int num_threads();

}  // namespace fg
