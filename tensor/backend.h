// Backend: one implementation per device kind, one virtual per kernel. Kernels take contiguous
// tensors that ops.h has already checked (shapes, dtypes, devices) plus plain-old-data parameter
// structs; the same structs key the backends' plan caches. Outputs are preallocated by ops.h.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace fg {

enum class UnaryOp : uint8_t {
#define FG_UNARY(Name, expr) Name,
#include "tensor/elementwise.def"
#undef FG_UNARY
};
enum class BinaryOp : uint8_t {
#define FG_BINARY(Name, expr) Name,
#include "tensor/elementwise.def"
#undef FG_BINARY
};
const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);

struct UnaryParams {
  double a = 0, b = 0;  // elu alpha; clamp lo/hi; pow exponent; affine scale/shift
};

// Reduction of x viewed as [outer, reduced, inner] into out viewed as [outer, inner].
enum class ReduceOp : uint8_t { Sum, Mean, Max, Min, LogSumExp };
struct ReduceParams {
  int64_t outer, reduced, inner;
};

// C[b] = op(A[b]) * op(B[b]); A is MxK (KxM if trans_a), B is KxN (NxK if trans_b), C is MxN.
// a_batch_stride / b_batch_stride are 0 for an operand broadcast over the batch.
struct MatmulParams {
  int64_t batch, M, N, K;
  bool trans_a, trans_b;
  int64_t a_batch_stride, b_batch_stride;
  bool operator==(const MatmulParams&) const = default;
};

// NCHW input, OIHW weights (I = C / groups), NCHW output.
struct Conv2dParams {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  bool operator==(const Conv2dParams&) const = default;
};

// x viewed as [outer, C, inner], normalized over C; gamma/beta have C elements.
struct LayerNormParams {
  int64_t outer, C, inner;
  double eps;
  bool operator==(const LayerNormParams&) const = default;
};

// dst[dst_offset + sum i_k dst_strides[k]] = src[src_offset + sum i_k src_strides[k]] over `shape`.
struct StridedCopyParams {
  std::vector<int64_t> shape, src_strides, dst_strides;
  int64_t src_offset = 0, dst_offset = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // memory
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;

  // elementwise (inputs broadcast to out's shape)
  virtual void fill(Tensor& out, double value) = 0;
  virtual void cast(const Tensor& x, Tensor& out) = 0;
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& out, const UnaryParams& p) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // ConcatELU, fused: x viewed as [outer, C, inner] -> y [outer, 2C, inner] = [elu(x), elu(-x)];
  // backward from the saved output: dx = g1 * elu'(x) - g2 * elu'(-x), elu'(v) = v > 0 ? 1 : elu(v) + 1.
  virtual void concat_elu(const Tensor& x, Tensor& y, int64_t outer, int64_t C, int64_t inner) = 0;
  virtual void concat_elu_backward(const Tensor& y, const Tensor& g, Tensor& dx, int64_t outer, int64_t C,
                                   int64_t inner) = 0;

  // layout
  virtual void strided_copy(const Tensor& src, Tensor& dst, const StridedCopyParams& p) = 0;

  // reductions
  virtual void reduce(ReduceOp op, const Tensor& x, Tensor& out, const ReduceParams& p) = 0;

  // dense
  virtual void matmul(const Tensor& a, const Tensor& b, Tensor& c, const MatmulParams& p) = 0;
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                              const Conv2dParams& p) = 0;
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) = 0;
  // dbias may be null.
  virtual void conv2d_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                                       const Conv2dParams& p) = 0;
  // gamma/beta may be null (no affine); mean/rstd get outer*inner elements.
  virtual void layer_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta, Tensor& y,
                                  Tensor& mean, Tensor& rstd, const LayerNormParams& p) = 0;
  // dgamma/dbeta may be null.
  virtual void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor* gamma, const Tensor& mean,
                                   const Tensor& rstd, Tensor& dx, Tensor* dgamma, Tensor* dbeta,
                                   const LayerNormParams& p) = 0;

  // random: Philox4x32-10 stream (seed, offset); offset counts 128-bit blocks already used.
  virtual void random_uniform(Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) = 0;
  virtual void random_normal(Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) = 0;
};

// The backend for a device. Throws fg::Error naming the device when it is not available
// (CUDA not built, or no GPU present, with the reason).
Backend& backend_for(Device d);
Backend& backend_memory(Device d);
// Registers a backend for a device kind (the CUDA backend does this when it is built).
void register_backend(Device::Kind kind, Backend* (*factory)(int index), bool (*available)(std::string* why));
bool device_available(Device d, std::string* why = nullptr);

}  // namespace fg
