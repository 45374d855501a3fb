// CPU backend: memory, and the dense kernels' one fast-or-reference dispatcher: for f32 convs the
// kernel the planner names (conv_plan.h), for matmul and layer norm oneDNN when enabled and it
// handles the case; the reference kernels otherwise, and always for f64.
#include "tensor/cpu/cpu_backend.h"

#include "tensor/cpu/conv_plan.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/cpu/allocator.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {
#ifdef FG_NO_ONEDNN
bool g_onednn = false;  // not built (-Donednn=disabled)
#else
bool g_onednn = [] {
  const char* e = std::getenv("FG_ONEDNN");
  return !(e && std::string(e) == "0");
}();
#endif

// fast() returns false when oneDNN does not take the case; ref(z) runs the reference for T = decltype(z).
template <class Fast, class Ref>
void dense(bool use_fast, DType t, const char* op, Fast&& fast, Ref&& ref) {
  dispatch_float(t, op, [&](auto z) {
    if constexpr (std::is_same_v<decltype(z), float>)
      if (use_fast && fast()) return;
    ref(z);
  });
}
}  // namespace

void set_onednn_enabled(bool on) { g_onednn = on; }
bool onednn_enabled() { return g_onednn; }

void* CpuBackend::allocate(size_t bytes) { return cached_alloc(bytes); }
void CpuBackend::deallocate(void* p, size_t bytes) { cached_free(p, bytes); }
void CpuBackend::copy_from_host(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }
void CpuBackend::copy_to_host(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }

#define F32(t) dense_in<float>(t)
#define F32_OUT(t) dense_out<float>(t)
#define T_IN(t) dense_in<T>(t)
#define T_OUT(t) dense_out<T>(t)

void CpuBackend::matmul(const MatmulParams& p, const Tensor& a, const Tensor& b, Tensor& c) {
  dense(use_onednn(), a.dtype(), "matmul", [&] { return onednn::matmul(F32(&a), F32(&b), F32_OUT(&c), p); },
        [&](auto z) {
          using T = decltype(z);
          ref::matmul<T>(T_IN(&a), T_IN(&b), T_OUT(&c), p);
        });
}

Backend::ConvChoice CpuBackend::conv_choice(const Conv2dParams& p, DType t, ConvDir d) {
  const ConvPlan plan = plan_conv(p, d, use_onednn() && t == DType::F32);
  return {plan.taps, plan.fast, conv_kernel_name(plan.kernel)};
}

int64_t CpuBackend::conv_channel_block(DType t) { return t == DType::F32 ? cpu::conv_channel_block(use_onednn()) : 0; }

namespace {
// The reference kernels take NCHW only; blocked layouts exist for the fast kernels, which take every
// case conv2d_params lets through (this fires only when oneDNN was switched off mid-graph).
void plain_layouts(const Conv2dParams& p) {
  FG_CHECK(p.src_block == 0 && p.dst_block == 0, "conv2d: channel-blocked layouts need oneDNN (f32 on the CPU)");
}
}  // namespace

void CpuBackend::conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias,
                                Tensor& y) {
  dense(use_onednn(), x.dtype(), "conv2d",
        [&] {
          switch (plan_conv(p, ConvDir::Forward, true).kernel) {
            case ConvKernel::Winograd: return winograd::conv2d_forward(F32(&x), F32(&w), F32(bias), F32_OUT(&y), p);
            case ConvKernel::OneDnn: return onednn::conv2d_forward(F32(&x), F32(&w), F32(bias), F32_OUT(&y), p);
            default: return false;
          }
        },
        [&](auto z) {
          using T = decltype(z);
          plain_layouts(p);
          ref::conv2d_forward<T>(T_IN(&x), T_IN(&w), T_IN(bias), T_OUT(&y), p);
          if (p.relu) {
            T* out = T_OUT(&y);
            for (int64_t i = 0, n = y.numel(); i < n; ++i) out[i] = out[i] > T(0) ? out[i] : T(0);
          }
        });
}

void CpuBackend::conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  dense(use_onednn(), dy.dtype(), "conv2d_backward_data",
        [&] {
          switch (plan_conv(p, ConvDir::BackwardData, true).kernel) {
            case ConvKernel::Winograd: return winograd::conv2d_backward_data(F32(&dy), F32(&w), F32_OUT(&dx), p);
            case ConvKernel::OneDnn: return onednn::conv2d_backward_data(F32(&dy), F32(&w), F32_OUT(&dx), p);
            default: return false;
          }
        },
        [&](auto z) {
          using T = decltype(z);
          plain_layouts(p);
          ref::conv2d_backward_data<T>(T_IN(&dy), T_IN(&w), T_OUT(&dx), p);
        });
}

void CpuBackend::conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                         Tensor* dbias) {
  dense(use_onednn(), x.dtype(), "conv2d_backward_weights",
        [&] {
          const float *xf = F32(&x), *dyf = F32(&dy);
          float *dwf = F32_OUT(&dw), *dbf = F32_OUT(dbias);
          switch (plan_conv(p, ConvDir::BackwardWeights, true).kernel) {
            case ConvKernel::SmallConv: return small_conv::conv2d_backward_weights(xf, dyf, dwf, dbf, p);
            case ConvKernel::PointwiseConv: return pointwise_conv::conv2d_backward_weights(xf, dyf, dwf, dbf, p);
            case ConvKernel::Winograd: return winograd::conv2d_backward_weights(xf, dyf, dwf, dbf, p);
            case ConvKernel::OneDnn: return onednn::conv2d_backward_weights(xf, dyf, dwf, dbf, p);
            default: return false;
          }
        },
        [&](auto z) {
          using T = decltype(z);
          plain_layouts(p);
          ref::conv2d_backward_weights<T>(T_IN(&x), T_IN(&dy), T_OUT(&dw), T_OUT(dbias), p);
        });
}

void CpuBackend::layer_norm_forward(const LayerNormParams& p, const Tensor& x, const Tensor* gate,
                                    const Tensor* gamma, const Tensor* beta, Tensor& y, Tensor& mean, Tensor& rstd) {
  dense(use_onednn() && !gate, x.dtype(), "layer_norm",
        [&] {
          return onednn::layer_norm_forward(F32(&x), F32(gamma), F32(beta), F32_OUT(&y), F32_OUT(&mean),
                                            F32_OUT(&rstd), p);
        },
        [&](auto z) {
          using T = decltype(z);
          ref::layer_norm_forward<T>(T_IN(&x), T_IN(gamma), T_IN(beta), T_OUT(&y), T_OUT(&mean), T_OUT(&rstd), p,
                                     T_IN(gate));
        });
}

void CpuBackend::layer_norm_backward(const LayerNormParams& p, const Tensor& dy, const Tensor& x, const Tensor* gamma,
                                     const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor* dgamma,
                                     Tensor* dbeta) {
  dense(use_onednn(), x.dtype(), "layer_norm_backward",
        [&] {
          return onednn::layer_norm_backward(F32(&dy), F32(&x), F32(gamma), F32(&mean), F32(&rstd), F32_OUT(&dx),
                                             F32_OUT(dgamma), F32_OUT(dbeta), p);
        },
        [&](auto z) {
          using T = decltype(z);
          ref::layer_norm_backward<T>(T_IN(&dy), T_IN(&x), T_IN(gamma), T_IN(&mean), T_IN(&rstd), T_OUT(&dx),
                                      T_OUT(dgamma), T_OUT(dbeta), p);
        });
}

#undef F32
#undef F32_OUT
#undef T_IN
#undef T_OUT

}  // namespace fg::cpu
