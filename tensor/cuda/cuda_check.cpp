// The launch check of cuda_check.h.
#include "tensor/cuda/cuda_check.h"

namespace fg::cuda {

void check_launch(cudaStream_t, const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(fmt::format("cuda: kernel {} failed to launch: {}", what, cudaGetErrorString(e)));
}

}  // namespace fg::cuda
