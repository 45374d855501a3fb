// Host-side checks of CUDA, cuBLAS and cuDNN status codes: a failure throws fg::Error naming the
// call and the library's own message. Included by the .cu files: C++17.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "flowgrad/tensor/error.h"

namespace fg::cuda {
// The launch error of the last kernel as an fg::Error naming `what` (cudaGetLastError).
void check_launch(cudaStream_t s, const char* what);
}  // namespace fg::cuda

#define FG_CUDA(call)                                                                                     \
  do {                                                                                                    \
    cudaError_t fg_e_ = (call);                                                                           \
    if (fg_e_ != cudaSuccess) {                                                                           \
      (void)cudaGetLastError();                                                                           \
      ::fg::fail(::fmt::format("cuda: {} failed: {} ({})", #call, cudaGetErrorString(fg_e_), cudaGetErrorName(fg_e_))); \
    }                                                                                                     \
  } while (0)

#define FG_CUBLAS(call)                                                                                   \
  do {                                                                                                    \
    cublasStatus_t fg_s_ = (call);                                                                        \
    if (fg_s_ != CUBLAS_STATUS_SUCCESS)                                                                   \
      ::fg::fail(::fmt::format("cublas: {} failed: {}", #call, cublasGetStatusString(fg_s_)));             \
  } while (0)

#define FG_CUDNN(call)                                                                                    \
  do {                                                                                                    \
    cudnnStatus_t fg_s_ = (call);                                                                         \
    if (fg_s_ != CUDNN_STATUS_SUCCESS)                                                                    \
      ::fg::fail(::fmt::format("cudnn: {} failed: {}", #call, cudnnGetErrorString(fg_s_)));                \
  } while (0)
