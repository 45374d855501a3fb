// Caching device allocator for one GPU: plain cudaMalloc (never managed memory), freed blocks kept
// on exact-size free lists and handed out again, so a training loop that allocates the same shapes
// every step stops calling cudaMalloc after its first step. Reuse is safe without events because
// the backend runs everything on one stream: a block freed by the host is only reused by work
// queued after the work that last used it. On a failed cudaMalloc the cache is returned to the
// device and the allocation retried once; then a one-line fg::Error says what was asked and what
// is held. Any other cudaMalloc error (a sticky fault of an earlier kernel, no driver) is reported
// as itself, never as "out of memory".
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fg::cuda {

// The error of a failed cudaMalloc of `bytes` on `device` (held: bytes in use by tensors): "out of
// memory" with the device's free and total memory only for cudaErrorMemoryAllocation.
std::string malloc_failure(int device, size_t bytes, size_t held, cudaError_t e);

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  void* allocate(size_t bytes);
  void deallocate(void* p, size_t bytes);
  void release_cache();                     // cudaFree of every cached block
  size_t cached_bytes();
  size_t in_use_bytes();
  size_t peak_in_use_bytes();  // highest in_use_bytes() so far (cf. torch.cuda.max_memory_allocated)

 private:
  static size_t rounded(size_t bytes);
  int device_;
  std::mutex m_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, in_use_ = 0, peak_ = 0;
};

}  // namespace fg::cuda
