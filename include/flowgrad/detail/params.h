// The kernels' plain parameter structs and op enums, with no dependencies so that device code
// (nvcc) includes them as they are: fixed-size, 8-byte fields only, so a device kernel takes them
// by value and their bytes are the keys of the backends' plan caches (tensor/plan_cache.h).
#pragma once
#include <cstdint>

// Functions that both host and device code call (params' helpers, the Philox generator).
#ifdef __CUDACC__
#define FG_HOST_DEVICE __host__ __device__
#else
#define FG_HOST_DEVICE
#endif

namespace fg {

// The highest rank a kernel takes.
constexpr int kMaxDims = 8;

enum class UnaryOp : uint8_t {
#define FG_UNARY(Name, ...) Name,
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
};
// Differentiable binary ops first, then the comparisons.
enum class BinaryOp : uint8_t {
#define FG_BINARY(Name, ...) Name,
#define FG_COMPARE(Name, ...) Name,
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
#undef FG_COMPARE
};
constexpr int kNumUnaryOps = 0
#define FG_UNARY(...) +1
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
    ;
constexpr int kNumDiffBinaryOps = 0
#define FG_BINARY(...) +1
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
    ;
struct UnaryParams {
  double a = 0, b = 0;  // elu alpha; clamp lo/hi; pow exponent; affine scale/shift
};

// The geometry of an elementwise kernel, computed once in shared code (tensor/geometry.cpp):
// operand 0 is the output, the others are inputs broadcast to its shape (stride 0 along broadcast
// dims); dims are coalesced where every operand allows, so a dense case is rank 1 with stride 1.
constexpr int kMaxOperands = 5;
struct ElementwiseParams {
  int64_t rank = 0, operands = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
  FG_HOST_DEVICE int64_t numel() const {
    int64_t n = 1;
    for (int64_t i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
};

// A reduction of a strided input into a contiguous output: out's elements run over the kept dims
// (out_shape, with the input's strides in_strides), each reducing over red_shape/red_strides.
enum class ReduceOp : uint8_t { Sum, Mean, Max, Min, LogSumExp };
struct ReduceParams {
  int64_t out_rank = 0, red_rank = 0;
  int64_t out_shape[kMaxDims] = {}, in_strides[kMaxDims] = {};
  int64_t red_shape[kMaxDims] = {}, red_strides[kMaxDims] = {};
  FG_HOST_DEVICE int64_t reduced() const {
    int64_t n = 1;
    for (int64_t i = 0; i < red_rank; ++i) n *= red_shape[i];
    return n;
  }
  FG_HOST_DEVICE int64_t outputs() const {
    int64_t n = 1;
    for (int64_t i = 0; i < out_rank; ++i) n *= out_shape[i];
    return n;
  }
};

// C[b] = op(A[b]) * op(B[b]); A is MxK (KxM if trans_a), B is KxN (NxK if trans_b), C is MxN.
// a_batch_stride / b_batch_stride are 0 for an operand broadcast over the batch.
struct MatmulParams {
  int64_t batch, M, N, K;
  int64_t trans_a, trans_b;
  int64_t a_batch_stride, b_batch_stride;
};

// The three passes of a convolution (backends plan each on its own).
enum class ConvDir : uint8_t { Forward, BackwardData, BackwardWeights };

// NCHW input, OIHW weights (I = C / groups), NCHW output.
struct Conv2dParams {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  // 0: x/dx (src) and y/dy (dst) are NCHW. b > 0: that side is channel-blocked, oneDNN's
  // nChw{b}c, held as a contiguous [N, C/b, H, W, b] tensor (CPU oneDNN only; see ConvOptions).
  int64_t src_block = 0, dst_block = 0;
  int64_t relu = 0;  // 1: the forward writes relu(conv + bias) (the backward kernels ignore it)
};

// x viewed as [outer, C, inner], normalized over C; gamma/beta have C elements. block b > 0: the
// channels are blocked, x is [outer, C/b, inner, b] (oneDNN's nChw{b}c, b = 8 or 16; the CPU's conv
// chains make it, and the CUDA kernels take it too). C = 0 gives mean 0 and rstd 1/sqrt(eps).
struct LayerNormParams {
  int64_t outer, C, inner;
  double eps;
  int64_t block = 0;
};

// ConcatELU, fused: x viewed as [outer, C, inner] -> y [outer, 2C, inner] = [elu(x), elu(-x)];
// backward from the saved output: dx = g1 * elu'(x) - g2 * elu'(-x), elu'(v) = v > 0 ? 1 : elu(v) + 1.
// The gated residual uses the same geometry: x [outer, C, inner], h = [a, b] [outer, 2C, inner],
// y = x + a * sigmoid(b); backward from h alone: da = g s, db = g a s (1 - s), s = sigmoid(b).
// A K x K conv as a 1x1 conv to K*K*O channels and this sum of shifted taps:
// y[n, o, h, w] = sum_{i, j < K} z[n, (i*K + j)*O + o, h + i - pad, w + j - pad] (zero outside).
// block b > 0: z is channel-blocked, [N, P/b, H, W, b] with P = K*K*O rounded up to b (the
// channels past K*K*O are padding, zero in dz), as a conv with dst_block = b writes it (the CPU's
// conv chains; the CUDA kernels take it too).
struct TapSumParams {
  int64_t N, O, H, W, K, pad;
  int64_t block = 0;
};

struct ConcatEluParams {
  int64_t outer, C, inner;
};

// Glow's affine coupling with a sigmoid scale, fused: z [N, C, S] splits into za = channels
// [0, ca), passed through, and zb = [ca, C); h [N, 2(C - ca), S] interleaves t = h[:, 0::2] and
// r = h[:, 1::2] + shift (the peer's NN(za) output), s = sigmoid(r). Forward y = [za, (zb + t) s],
// reverse y = [za, zb / s - t]; logdet[n] = sum of log s over sample n (both directions: the
// reverse flow subtracts it). Backward, u = zb + t: forward dzb = dt = gy s, dr = gy u s (1 - s)
// + gl (1 - s); reverse dzb = gy / s, dt = -gy, dr = -gy zb (1 - s) / s + gl (1 - s); dza = gy.
struct SigmoidCouplingParams {
  int64_t N, C, ca, S;
  double shift;
  bool reverse;
};

// torch.optim.Adam's update (lerp form of the first moment, eps outside the sqrt, L2 decay added
// to the gradient), applied in place to every tensor of the lists in one pass.
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  double decoupled = 0;  // 1: AdamW, p *= 1 - lr * weight_decay before the update, no L2 term in g
};

}  // namespace fg
