// CPU backend: memory, and the dense kernels' dispatch (oneDNN for f32 when it handles the case,
// the reference kernels otherwise and always for f64).
#include "tensor/cpu/cpu_backend.h"

#include "tensor/cpu/allocator.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace fg::cpu {

namespace {
bool g_onednn = [] {
  const char* e = std::getenv("FG_ONEDNN");
  return !(e && std::string(e) == "0");
}();

template <class F>
void dispatch_dense(DType t, const char* op, F&& f) {
  if (t == DType::F32) return f(float{});
  if (t == DType::F64) return f(double{});
  fail(fmt::format("{}: dtype {} is not supported (f32 and f64 are)", op, dtype_name(t)));
}

template <class T> const T* ptr(const Tensor* t) { return t ? static_cast<const T*>(t->raw()) : nullptr; }
template <class T> T* mptr(Tensor* t) { return t ? static_cast<T*>(t->raw()) : nullptr; }
}  // namespace

void set_onednn_enabled(bool on) { g_onednn = on; }
bool onednn_enabled() { return g_onednn; }

void* CpuBackend::allocate(size_t bytes) { return cached_alloc(bytes); }
void CpuBackend::deallocate(void* p, size_t bytes) { cached_free(p, bytes); }
void CpuBackend::copy_from_host(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }
void CpuBackend::copy_to_host(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }
void CpuBackend::copy(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }

void CpuBackend::matmul(const Tensor& a, const Tensor& b, Tensor& c, const MatmulParams& p) {
  dispatch_dense(a.dtype(), "matmul", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn && onednn::matmul(ptr<float>(&a), ptr<float>(&b), mptr<float>(&c), p)) return;
    ref::matmul<T>(ptr<T>(&a), ptr<T>(&b), mptr<T>(&c), p);
  });
}

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                                const Conv2dParams& p) {
  dispatch_dense(x.dtype(), "conv2d", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn && onednn::conv2d_forward(ptr<float>(&x), ptr<float>(&w), ptr<float>(bias), mptr<float>(&y), p))
        return;
    ref::conv2d_forward<T>(ptr<T>(&x), ptr<T>(&w), ptr<T>(bias), mptr<T>(&y), p);
  });
}

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) {
  dispatch_dense(dy.dtype(), "conv2d_backward_data", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn && onednn::conv2d_backward_data(ptr<float>(&dy), ptr<float>(&w), mptr<float>(&dx), p)) return;
    ref::conv2d_backward_data<T>(ptr<T>(&dy), ptr<T>(&w), mptr<T>(&dx), p);
  });
}

void CpuBackend::conv2d_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                                         const Conv2dParams& p) {
  dispatch_dense(x.dtype(), "conv2d_backward_weights", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn &&
          onednn::conv2d_backward_weights(ptr<float>(&x), ptr<float>(&dy), mptr<float>(&dw), mptr<float>(dbias), p))
        return;
    ref::conv2d_backward_weights<T>(ptr<T>(&x), ptr<T>(&dy), mptr<T>(&dw), mptr<T>(dbias), p);
  });
}

void CpuBackend::layer_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta, Tensor& y, Tensor& mean,
                                    Tensor& rstd, const LayerNormParams& p) {
  dispatch_dense(x.dtype(), "layer_norm", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn && onednn::layer_norm_forward(ptr<float>(&x), ptr<float>(gamma), ptr<float>(beta), mptr<float>(&y),
                                                 mptr<float>(&mean), mptr<float>(&rstd), p))
        return;
    ref::layer_norm_forward<T>(ptr<T>(&x), ptr<T>(gamma), ptr<T>(beta), mptr<T>(&y), mptr<T>(&mean),
                               mptr<T>(&rstd), p);
  });
}

void CpuBackend::layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor* gamma, const Tensor& mean,
                                     const Tensor& rstd, Tensor& dx, Tensor* dgamma, Tensor* dbeta,
                                     const LayerNormParams& p) {
  dispatch_dense(x.dtype(), "layer_norm_backward", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (g_onednn && onednn::layer_norm_backward(ptr<float>(&dy), ptr<float>(&x), ptr<float>(gamma),
                                                  ptr<float>(&mean), ptr<float>(&rstd), mptr<float>(&dx),
                                                  mptr<float>(dgamma), mptr<float>(dbeta), p))
        return;
    ref::layer_norm_backward<T>(ptr<T>(&dy), ptr<T>(&x), ptr<T>(gamma), ptr<T>(&mean), ptr<T>(&rstd),
                                mptr<T>(&dx), mptr<T>(dgamma), mptr<T>(dbeta), p);
  });
}

}  // namespace fg::cpu
