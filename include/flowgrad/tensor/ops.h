// The op API: free functions on Tensors (not differentiable by themselves; flowgrad/autograd/
// functional.h has the same names on Vars). Every function checks its arguments first and throws
// fg::Error naming the op and the shapes, dtypes or devices at fault: tensors on different devices,
// mismatched dtypes (no implicit promotion), shapes that do not broadcast or fit, integer tensors
// where floats are needed. Results are new tensors on the inputs' device, except the views below.
// Elementwise functions are generated from the table flowgrad/detail/elementwise.def.
#pragma once
#include <vector>

#include "flowgrad/detail/elementwise_macros.h"
#include "flowgrad/tensor/device.h"
#include "flowgrad/tensor/random.h"
#include "flowgrad/tensor/tensor.h"

namespace fg {

// ---- creation (shape, dtype and device given; random ones draw from g, or the default generator) ----
Tensor zeros(const Shape& s, DType t = DType::F32, Device d = Device::cpu());
Tensor ones(const Shape& s, DType t = DType::F32, Device d = Device::cpu());
Tensor full(const Shape& s, double v, DType t = DType::F32, Device d = Device::cpu());
Tensor scalar(double v, DType t = DType::F32, Device d = Device::cpu());  // shape []
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double v);
Tensor arange(double start, double end, double step = 1, DType t = DType::F32, Device d = Device::cpu());
Tensor linspace(double start, double end, int64_t n, DType t = DType::F32, Device d = Device::cpu());
Tensor rand(const Shape& s, DType t = DType::F32, Device d = Device::cpu(), Generator* g = nullptr);  // U[0, 1)
Tensor uniform(const Shape& s, double lo, double hi, DType t = DType::F32, Device d = Device::cpu(),
               Generator* g = nullptr);
Tensor randn(const Shape& s, DType t = DType::F32, Device d = Device::cpu(), Generator* g = nullptr);  // N(0, 1)
Tensor normal(const Shape& s, double mean, double std, DType t = DType::F32, Device d = Device::cpu(),
              Generator* g = nullptr);
Tensor cast(const Tensor& x, DType t);  // same as x.to(t)

// ---- elementwise: NumPy broadcasting; comparisons give 0/1 in the inputs' dtype ----
// One function per row of the table: unary ops take x (and the row's parameters, e.g. elu(x, alpha),
// clamp(x, lo, hi), pow(x, p), affine(x, scale, shift)), binary ops take a and b of the same dtype.
#define FG_UNARY(Name, fn, np, ...) Tensor fn(const Tensor& x FG_EW_PARAMS_##np);
#define FG_BINARY(Name, fn, ...) Tensor fn(const Tensor& a, const Tensor& b);
#define FG_COMPARE(Name, fn, ...) Tensor fn(const Tensor& a, const Tensor& b);
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef FG_COMPARE
// The same, with the op as a value (UnaryOp::Exp, BinaryOp::Mul, ...).
Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p = {});
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond != 0 ? a : b, broadcast
// [elu(x), elu(-x)] concatenated along dim 1 (channels): [N, C, ...] -> [N, 2C, ...].
Tensor concat_elu(const Tensor& x);
// GatedConv's output, fused: x + a * sigmoid(b) with [a, b] = chunk(h, 2, dim 1); x [N, C, ...],
// h [N, 2C, ...].
Tensor gated_residual(const Tensor& x, const Tensor& h);
// Glow's affine coupling with a sigmoid scale, fused: z [N, C, ...] and h [N, 2(C - ca), ...]
// (t, r interleaved: t = h[:, 0::2], r = h[:, 1::2]) give y [N, C, ...] = [za, (zb + t) s]
// (reverse: [za, zb / s - t]) with s = sigmoid(r + shift), za = z[:, :ca], and logdet [N], the sum
// of log s per sample.
struct SigmoidCoupling {
  Tensor y, logdet;
};
SigmoidCoupling sigmoid_coupling(const Tensor& z, const Tensor& h, int64_t ca, double shift, bool reverse);
// LipSwish (residual flows), fused: y = x sigmoid(beta x) / 1.1 for a one-element beta and, when a
// tangent dx shaped as x is given, dy = f'(x) dx (a Jacobian-vector product's step); dy is
// undefined without dx.
struct LipSwishResult {
  Tensor y, dy;
};
LipSwishResult lipswish(const Tensor& x, const Tensor& dx, const Tensor& beta);

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

// ---- reductions over a set of dims (empty = all dims; negative dims count from the end) ----
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Sums a broadcast result back to `shape` (the gradient of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- layout: views (no copy; they share x's storage) ----
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
// dst (any view, same shape, dtype and device) = src; counts the bytes in the layout counter.
void copy_into(const Tensor& src, Tensor& dst);

// ---- dense (contiguous() is taken at the kernel boundary, so views are accepted) ----
// a [..., M, K] @ b [..., K, N] (each side optionally transposed); batch dims must match, or one
// side has none (or batch 1) and broadcasts.
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
  // Channel-blocked input and/or output (conv2d only): 0 for NCHW, or b = conv_channel_block(x) for
  // the backend's blocked layout [N, C/b, H, W, b] (C divisible by b, groups 1), so that chains of
  // conv -> elementwise -> conv keep their activations in the layout the conv kernels use.
  int64_t src_block = 0, dst_block = 0;
  bool relu = false;  // conv2d only: y = relu(conv + bias), fused
};
// The channel block of the layout x's backend prefers for f32 conv chains (8 or 16 on CPUs with
// oneDNN, by vector width); 0 where it has none (f64, the CUDA backend, oneDNN off or absent, or
// FG_CONV_BLOCKS=0 in the environment, which keeps every conv on NCHW for comparisons).
int64_t conv_channel_block(const Tensor& x);
// x [N, C, H, W] (or blocked), w [O, C/groups, KH, KW], bias [O] or null -> [N, O, OH, OW]
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr, const ConvOptions& o = {});
// x [N, Cin, H, W], w [Cin, Cout/groups, KH, KW] (PyTorch's layout), bias [Cout] or null
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr, const ConvOptions& o = {});
// Normalizes over `dim` (biased variance, as PyTorch); gamma/beta [size(dim)] or null.
// block b > 0: x is channel-blocked, [N, C/b, ..., b] as from a conv with dst_block = b, normalized
// over its C channels (dim must be 1); gamma/beta are [C].
Tensor layer_norm(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta, double eps = 1e-5,
                  int64_t block = 0);
// layer_norm(gated_residual(x, h), 1, ...) in one pass, the residual never written out.
Tensor gated_residual_layer_norm(const Tensor& x, const Tensor& h, const Tensor* gamma, const Tensor* beta,
                                 double eps = 1e-5, int64_t block = 0);

// ---- multi-tensor (one kernel over a list: a training step's clipping and optimizer) ----
// sum_i sum(x_i^2) as a 0-d f64 tensor on the tensors' device.
Tensor sum_of_squares(const std::vector<Tensor>& xs);
// x_i * factor (a 0-d tensor) for every i.
std::vector<Tensor> scale_all(const std::vector<Tensor>& xs, const Tensor& factor);
// torch.optim.Adam on every parameter in place (AdamParams). `step` is an f64 [1] tensor on the
// parameters' device holding the step count; a non-zero 0-d `skip` makes the call a no-op.
struct AdamTensors {
  std::vector<Tensor*> params, exp_avg, exp_avg_sq;
  std::vector<const Tensor*> grads;
};
void adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip = nullptr);

// ---- helpers (host reads) ----
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace fg
