// The CUDA backend: one per GPU, one stream, one cuBLAS and one cuDNN handle, a caching allocator
// and one growable workspace. As on the CPU, each kernel family's file defines its CudaBackend
// methods (tensor/cpu/X.cpp <-> tensor/cuda/X.cu): our own kernels in the .cu files, cuDNN's
// convolutions in cudnn_conv.cpp, cuBLAS's matmul in cublas_matmul.cpp; cuda_backend.cpp holds
// registration, memory, staging, the workspace and activate(). Work is queued on the stream and
// never waited for, except where the host reads a value (copy_to_host) or asks to (synchronize).
// TF32 is off unless set_allow_tf32(true) / FG_ALLOW_TF32=1, so f32 results match the CPU's.
// The .cu files include this header: it and everything it includes stay C++17 (meson.build).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <string>

#include "tensor/backend.h"
#include "tensor/cuda/allocator.h"
#include "tensor/plan_cache.h"

namespace fg::cuda {

// The registry's entries for the cuda device kind (tensor/backend.cpp): whether GPU `index` is
// usable (else the reason: no driver, no device, index out of range), and its backend.
bool device_available(int index, std::string* why);
Backend* create_backend(int index);
// GPUs visible to this process; 0 with the reason in *why when the driver or device is missing.
int device_count(std::string* why = nullptr);

struct ConvPlan;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  const char* name() const override { return "cuda"; }

  void* allocate(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void synchronize() override;
  // NCHW cuDNN for every conv; kernel names the cuDNN algorithm chosen for direction d
  ConvChoice conv_choice(const Conv2dParams& p, DType t, ConvDir d) override;

#define FG_BACKEND_OP(name, params) void name params override;
#include "tensor/backend.def"
#undef FG_BACKEND_OP

  cudaStream_t stream() const { return stream_; }
  DeviceAllocator& allocator() { return alloc_; }
  size_t peak_memory_bytes() override { return alloc_.peak_in_use_bytes(); }

 private:
  // makes this backend's GPU current for the calling thread
  void activate() const;
  // the shared workspace, grown to at least `bytes` (cuDNN's algorithms ask for one)
  void* workspace(size_t bytes);
  std::shared_ptr<ConvPlan> conv_plan(const Conv2dParams& p, DType t);
  // A singular matrix's inverse is NaN on the device; the kernel raises a device flag, read at the
  // next host read (or at once with FG_CUDA_SYNC=1), which then throws as the CPU's inverse does.
  int* singular_flag();
  void report_singular();

  // pinned host buffers for uploads: a slot is reused once its last copy has completed
  struct Staging {
    void* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
  };
  Staging staging_[2];
  int next_staging_ = 0;

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  DeviceAllocator alloc_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  PlanCache<ConvPlan> conv_plans_;
  int* singular_ = nullptr;           // device flag set by the inverse kernel
  bool inverse_pending_ = false;      // an inverse ran since the flag was last read
  std::string last_inverse_shape_;
};

// A block of device memory from the backend's allocator, returned when it goes out of scope
// (stream order makes that safe while queued kernels still use it).
class Scratch {
 public:
  Scratch(CudaBackend& b, size_t bytes) : b_(b), bytes_(bytes == 0 ? 1 : bytes), p_(b.allocate(bytes_)) {}
  ~Scratch() { b_.deallocate(p_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  CudaBackend& b_;
  size_t bytes_;
  void* p_;
};

// Typed device pointers for kernel arguments: const for inputs, nullptr for an absent tensor.
template <class T> const T* ptr(const Tensor& t) { return static_cast<const T*>(t.raw()); }
template <class T> T* ptr(Tensor& t) { return static_cast<T*>(t.raw()); }
template <class T> const T* ptr(const Tensor* t) { return t ? ptr<T>(*t) : nullptr; }
template <class T> T* ptr(Tensor* t) { return t ? ptr<T>(*t) : nullptr; }

}  // namespace fg::cuda
