// CUDA backend: device discovery and registration, memory (caching allocator, pinned staging for
// uploads, the cuDNN workspace), activate(), and the deferred report of a singular inverse. The
// kernels are defined beside their families (cuda_backend.h).
#include "tensor/cuda/cuda_backend.h"

#include <cstring>

#include "tensor/cuda/cuda_check.h"

namespace fg::cuda {

int device_count(std::string* why) {
  int n = 0;  // cudaGetDeviceCount leaves it unwritten on error
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = fmt::format("no usable GPU ({}: {})", cudaGetErrorName(e), cudaGetErrorString(e));
    (void)cudaGetLastError();
    return 0;
  }
  if (n == 0 && why) *why = "no GPU found (cudaGetDeviceCount returned 0)";
  return n;
}

bool device_available(int index, std::string* why) {
  static std::string reason;
  static const int count = device_count(&reason);
  if (index < count) return true;
  if (why) *why = count == 0 ? reason : fmt::format("cuda:{} does not exist ({} GPU{} present)", index, count,
                                                    count == 1 ? "" : "s");
  return false;
}

Backend* create_backend(int index) { return new CudaBackend(index); }

}  // namespace fg::cuda

// The module's entry points: tensor/backend.cpp looks them up by name after loading
// libflowgrad_cuda.so.
extern "C" bool fg_cuda_device_available(int index, std::string* why) { return fg::cuda::device_available(index, why); }
extern "C" fg::Backend* fg_cuda_create_backend(int index) { return fg::cuda::create_backend(index); }

namespace fg::cuda {

CudaBackend::CudaBackend(int device) : device_(device), alloc_(device) {
  activate();
  FG_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  FG_CUBLAS(cublasCreate(&cublas_));
  FG_CUBLAS(cublasSetStream(cublas_, stream_));
  FG_CUDNN(cudnnCreate(&cudnn_));
  FG_CUDNN(cudnnSetStream(cudnn_, stream_));
  for (Staging& s : staging_) FG_CUDA(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
}

CudaBackend::~CudaBackend() {
  // backends live until exit, when the driver may be gone: nothing here may throw
  cudaStreamSynchronize(stream_);
  for (Staging& s : staging_) {
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  if (workspace_) alloc_.deallocate(workspace_, workspace_bytes_);
  if (singular_) alloc_.deallocate(singular_, sizeof(int));
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::activate() const {
  thread_local int current = -1;
  if (current != device_) {
    FG_CUDA(cudaSetDevice(device_));
    current = device_;
  }
}

void* CudaBackend::allocate(size_t bytes) {
  activate();
  return alloc_.allocate(bytes);
}

void CudaBackend::deallocate(void* p, size_t bytes) { alloc_.deallocate(p, bytes); }

void CudaBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  constexpr size_t kMaxStaging = 256u << 20;
  if (bytes > kMaxStaging) {  // pageable copy: the driver waits for the stream first
    FG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    return;
  }
  Staging& s = staging_[next_staging_];
  next_staging_ ^= 1;
  FG_CUDA(cudaEventSynchronize(s.done));  // this slot's previous upload has left the buffer
  if (s.bytes < bytes) {
    if (s.host) FG_CUDA(cudaFreeHost(s.host));
    s.host = nullptr;
    s.bytes = 0;
    size_t n = 1 << 20;
    while (n < bytes) n <<= 1;
    FG_CUDA(cudaMallocHost(&s.host, n));
    s.bytes = n;
  }
  std::memcpy(s.host, src, bytes);
  FG_CUDA(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream_));
  FG_CUDA(cudaEventRecord(s.done, stream_));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  FG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  FG_CUDA(cudaStreamSynchronize(stream_));
  if (inverse_pending_) report_singular();
}

void CudaBackend::synchronize() {
  activate();
  FG_CUDA(cudaStreamSynchronize(stream_));
  if (inverse_pending_) report_singular();
}

int* CudaBackend::singular_flag() {
  if (!singular_) {
    singular_ = static_cast<int*>(alloc_.allocate(sizeof(int)));
    FG_CUDA(cudaMemsetAsync(singular_, 0, sizeof(int), stream_));
  }
  inverse_pending_ = true;
  return singular_;
}

void CudaBackend::report_singular() {
  inverse_pending_ = false;
  int flag = 0;
  FG_CUDA(cudaMemcpyAsync(&flag, singular_, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  FG_CUDA(cudaStreamSynchronize(stream_));
  if (!flag) return;
  FG_CUDA(cudaMemsetAsync(singular_, 0, sizeof(int), stream_));
  fail(fmt::format("inverse: matrix {} is singular (cuda:{} found it at the host read after the inverse, which is "
                   "NaN; FG_CUDA_SYNC=1 reports it at the call)",
                   last_inverse_shape_, device_));
}

void* CudaBackend::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_) alloc_.deallocate(workspace_, workspace_bytes_);
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  workspace_ = alloc_.allocate(bytes);
  workspace_bytes_ = bytes;
  return workspace_;
}

}  // namespace fg::cuda
