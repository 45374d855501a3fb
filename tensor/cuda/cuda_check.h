// Host-side checks of CUDA, cuBLAS and cuDNN status codes: a failure throws fg::Error naming the
// call and the library's own message (for cuDNN 9 also cudnnGetLastErrorString's detail, e.g. which
// pointer was misaligned). check_launch follows every kernel launch; with FG_CUDA_SYNC=1 (or
// CUDA_LAUNCH_BLOCKING=1) it also waits for the kernel, so a fault is reported by the launch that
// made it rather than by the next copy (which, without it, fails with a sticky error that poisons
// every later call in the process). Included by the .cu files: C++17.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <climits>
#include <cstdint>
#include <string>

#include "flowgrad/tensor/error.h"

namespace fg::cuda {

std::string cuda_failure(const char* call, cudaError_t e);      // "cuda: <call> failed: <text> (<name>)"
std::string cudnn_failure(const char* call, cudnnStatus_t s);   // "cudnn: <call> failed: <status>[: <detail>]"

// FG_CUDA_SYNC or CUDA_LAUNCH_BLOCKING set (to anything but "" or "0"): wait after every launch.
bool sync_launches();
// The launch error of the last kernel as an fg::Error naming `what`; with sync_launches(), also
// waits for stream s and reports an error raised while the kernel ran.
void check_launch(cudaStream_t s, const char* what);
// After a cuBLAS or cuDNN call: with sync_launches(), waits for stream s and reports a fault of
// the library's kernels as `what`'s; a no-op otherwise.
void check_library_kernels(cudaStream_t s, const char* what);

// v as the int that cuBLAS and cuDNN take, or an fg::Error naming op, what and v.
inline int to_int(int64_t v, const char* op, const char* what) {
  FG_CHECK(v >= 0 && v <= INT_MAX, "{} on cuda: {} = {} does not fit the int that cuBLAS/cuDNN take (at most {})", op,
           what, v, INT_MAX);
  return static_cast<int>(v);
}

}  // namespace fg::cuda

#define FG_CUDA(call)                                                   \
  do {                                                                  \
    cudaError_t fg_e_ = (call);                                         \
    if (fg_e_ != cudaSuccess) {                                         \
      (void)cudaGetLastError();                                         \
      ::fg::fail(::fg::cuda::cuda_failure(#call, fg_e_));               \
    }                                                                   \
  } while (0)

#define FG_CUBLAS(call)                                                                                   \
  do {                                                                                                    \
    cublasStatus_t fg_s_ = (call);                                                                        \
    if (fg_s_ != CUBLAS_STATUS_SUCCESS)                                                                   \
      ::fg::fail(::fmt::format("cublas: {} failed: {}", #call, cublasGetStatusString(fg_s_)));             \
  } while (0)

#define FG_CUDNN(call)                                                  \
  do {                                                                  \
    cudnnStatus_t fg_s_ = (call);                                       \
    if (fg_s_ != CUDNN_STATUS_SUCCESS) ::fg::fail(::fg::cuda::cudnn_failure(#call, fg_s_)); \
  } while (0)
