// The CPU backend: reference kernels (plain C++, float and double, OpenMP) for everything, oneDNN
// 2.6 primitives for the f32 hot paths (conv, matmul, layer norm) when enabled, and our own SIMD
// conv kernels where they beat oneDNN (Winograd, small-channel and 1x1 weight gradients). One
// kernel family per file; cpu_backend.cpp holds memory and the dense kernels' dispatch, which for
// convs follows the planner (conv_plan.h).
#pragma once
#include "tensor/backend.h"

namespace fg::cpu {

// oneDNN f32 fast paths on/off (on by default; FG_ONEDNN=0 in the environment turns them off).
// Tests switch it off to get the reference result for the same call.
void set_onednn_enabled(bool on);
bool onednn_enabled();

class CpuBackend : public Backend {
 public:
  // onednn: -1 follows set_onednn_enabled (the process-wide backend), 0 reference kernels only,
  // 1 oneDNN where it handles the case (the parity harness builds one of each).
  explicit CpuBackend(int onednn = -1) : onednn_(onednn) {}
  const char* name() const override { return onednn_ == 0 ? "cpu-reference" : "cpu"; }
  bool use_onednn() const { return onednn_ < 0 ? onednn_enabled() : onednn_ == 1; }

  void* allocate(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  ConvChoice conv_choice(const Conv2dParams& p, DType t, ConvDir d) override;
  int64_t conv_channel_block(DType t) override;

#define FG_BACKEND_OP(name, params) void name params override;
#include "tensor/backend.def"
#undef FG_BACKEND_OP

 private:
  int onednn_;
};

// Reference kernels on raw pointers (T = float or double). They are the truth the fast paths
// are tested against. Layouts as in backend.h.
namespace ref {
template <class T> void matmul(const T* a, const T* b, T* c, const MatmulParams& p);
template <class T> void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const Conv2dParams& p);
template <class T> void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dParams& p);
template <class T> void conv2d_backward_weights(const T* x, const T* dy, T* dw, T* dbias, const Conv2dParams& p);
template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const LayerNormParams& p,
                        const T* gate = nullptr);
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma,
                         T* dbeta, const LayerNormParams& p);
}  // namespace ref

// Our Winograd F(4x4, 3x3) for f32 3x3 stride-1 convs with nChw8c (or, with AVX-512, nChw16c) on
// both sides and at least 16 channels on each (tensor/cpu/winograd_conv.cpp), and forward only from
// a blocked input with at least 16 channels to NCHW output with at least two blocks' worth of
// channels. Each returns false when it does not take the case.
namespace winograd {
bool applies(const Conv2dParams& p);              // all three directions
bool applies_nchw_output(const Conv2dParams& p);  // forward only
bool conv2d_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dParams& p);
bool conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dParams& p);
bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p);
}  // namespace winograd

// Our weight gradient for f32 3x3 stride-1 convs from at most 8 NCHW input channels to nChw8c
// (or, with AVX-512, nChw16c) outputs: the nets' first convs (tensor/cpu/small_conv.cpp).
// Returns false when it does not take the case.
namespace small_conv {
bool applies(const Conv2dParams& p);
bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p);
}  // namespace small_conv

// Our weight gradient for f32 1x1 stride-1 convs with nChw8c (or, with AVX-512, nChw16c) on both
// sides (tensor/cpu/pointwise_conv.cpp). Returns false when it does not take the case.
namespace pointwise_conv {
bool applies(const Conv2dParams& p);
bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p);
}  // namespace pointwise_conv

// oneDNN f32 kernels; each returns false when it does not handle the case (the caller then
// runs the reference kernel).
namespace onednn {
bool matmul(const float* a, const float* b, float* c, const MatmulParams& p);
// The channel block of oneDNN's nChw{b}c for this CPU (16 with AVX-512, 8 otherwise); 0 without oneDNN.
int64_t channel_block();
// Which directions oneDNN builds p in (its channel blocks included, laid out as the planner says),
// and whether on JIT kernels (jit false: oneDNN's own reference implementation, slow).
struct ConvJit {
  struct Direction {
    bool built = false, jit = false;
  };
  Direction forward, backward_data, backward_weights;
};
ConvJit conv2d_jit(const Conv2dParams& p);
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
