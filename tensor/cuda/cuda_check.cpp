// The error reports of cuda_check.h, and the optional synchronous mode for finding a faulting kernel.
#include "tensor/cuda/cuda_check.h"

#include <cstdlib>
#include <cstring>

namespace fg::cuda {

namespace {
bool env_set(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && std::strcmp(e, "0") != 0;
}

void wait_for(cudaStream_t s, const char* what, const char* kind) {
  cudaError_t e = cudaStreamSynchronize(s);
  if (e == cudaSuccess) e = cudaGetLastError();
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail(fmt::format("cuda: {} {} failed while running: {} ({}) (found by FG_CUDA_SYNC at its launch)", kind, what,
                     cudaGetErrorString(e), cudaGetErrorName(e)));
  }
}
}  // namespace

std::string cuda_failure(const char* call, cudaError_t e) {
  return fmt::format("cuda: {} failed: {} ({})", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

std::string cudnn_failure(const char* call, cudnnStatus_t s) {
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);  // cuDNN 9: the last error's reason, then cleared
  std::string m = fmt::format("cudnn: {} failed: {}", call, cudnnGetErrorString(s));
  if (detail[0]) m += fmt::format(": {}", printable(detail, 300));
  return m;
}

bool sync_launches() {
  static const bool on = env_set("FG_CUDA_SYNC") || env_set("CUDA_LAUNCH_BLOCKING");
  return on;
}

void check_launch(cudaStream_t s, const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    fail(fmt::format("cuda: kernel {} failed to launch: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e)));
  if (sync_launches()) wait_for(s, what, "kernel");
}

void check_library_kernels(cudaStream_t s, const char* what) {
  if (sync_launches()) wait_for(s, what, "library call");
}

}  // namespace fg::cuda
