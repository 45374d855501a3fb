// The CPU backend: reference kernels (plain C++, float and double, OpenMP) for everything, and
// oneDNN 2.6 primitives for the f32 hot paths (conv, matmul, layer norm) when enabled.
#pragma once
#include "tensor/backend.h"

namespace fg::cpu {

// oneDNN f32 fast paths on/off (on by default; FG_ONEDNN=0 in the environment turns them off).
// Tests switch it off to get the reference result for the same call.
void set_onednn_enabled(bool on);
bool onednn_enabled();

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  void* allocate(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;

  void fill(Tensor& out, double value) override;
  void cast(const Tensor& x, Tensor& out) override;
  void unary(UnaryOp op, const Tensor& x, Tensor& out, const UnaryParams& p) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  void concat_elu(const Tensor& x, Tensor& y, int64_t outer, int64_t C, int64_t inner) override;
  void concat_elu_backward(const Tensor& y, const Tensor& g, Tensor& dx, int64_t outer, int64_t C,
                           int64_t inner) override;
  void strided_copy(const Tensor& src, Tensor& dst, const StridedCopyParams& p) override;
  void reduce(ReduceOp op, const Tensor& x, Tensor& out, const ReduceParams& p) override;

  void matmul(const Tensor& a, const Tensor& b, Tensor& c, const MatmulParams& p) override;
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const Conv2dParams& p) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) override;
  void conv2d_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                               const Conv2dParams& p) override;
  void layer_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta, Tensor& y, Tensor& mean,
                          Tensor& rstd, const LayerNormParams& p) override;
  void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor* gamma, const Tensor& mean,
                           const Tensor& rstd, Tensor& dx, Tensor* dgamma, Tensor* dbeta,
                           const LayerNormParams& p) override;

  void random_uniform(Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) override;
  void random_normal(Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;
};

// Reference kernels on raw pointers (T = float or double). They are the truth the fast paths
// are tested against. Layouts as in backend.h.
namespace ref {
template <class T> void matmul(const T* a, const T* b, T* c, const MatmulParams& p);
template <class T> void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const Conv2dParams& p);
template <class T> void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dParams& p);
template <class T> void conv2d_backward_weights(const T* x, const T* dy, T* dw, T* dbias, const Conv2dParams& p);
template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const LayerNormParams& p);
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma,
                         T* dbeta, const LayerNormParams& p);
}  // namespace ref

// oneDNN f32 kernels; each returns false when it does not handle the case (the caller then
// runs the reference kernel).
namespace onednn {
bool matmul(const float* a, const float* b, float* c, const MatmulParams& p);
bool conv2d_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dParams& p);
bool conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dParams& p);
bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p);
bool layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                        const LayerNormParams& p);
bool layer_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                         float* dx, float* dgamma, float* dbeta, const LayerNormParams& p);
void set_num_threads(int n);
}  // namespace onednn

}  // namespace fg::cpu
