#include "tensor/cuda/allocator.h"

#include <algorithm>

#include "flowgrad/tensor/error.h"

namespace fg::cuda {

namespace {
double mib(size_t b) { return static_cast<double>(b) / (1 << 20); }
}  // namespace

std::string malloc_failure(int device, size_t bytes, size_t held, cudaError_t e) {
  if (e != cudaErrorMemoryAllocation)  // e.g. a sticky fault of an earlier kernel: not a memory problem
    return fmt::format("cuda:{}: cudaMalloc of {:.1f} MiB failed: {} ({}){}", device, mib(bytes),
                       cudaGetErrorString(e), cudaGetErrorName(e),
                       e == cudaErrorIllegalAddress || e == cudaErrorLaunchFailure
                           ? "; an earlier kernel faulted (FG_CUDA_SYNC=1 reports it at its launch)"
                           : "");
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  (void)cudaGetLastError();
  return fmt::format("cuda:{}: out of memory allocating {:.1f} MiB ({:.1f} MiB held by tensors, {:.1f} MiB free of "
                     "{:.1f} MiB)",
                     device, mib(bytes), mib(held), mib(free_b), mib(total_b));
}

// 512-byte granules below 1 MiB, 2 MiB granules above: few distinct sizes, little waste.
size_t DeviceAllocator::rounded(size_t bytes) {
  const size_t g = bytes < (1u << 20) ? 512 : (2u << 20);
  return (bytes + g - 1) / g * g;
}

DeviceAllocator::~DeviceAllocator() {
  // at exit the driver may already be shutting down: errors are ignored
  for (auto& [n, v] : free_)
    for (void* p : v) cudaFree(p);
}

void* DeviceAllocator::allocate(size_t bytes) {
  const size_t n = rounded(bytes == 0 ? 1 : bytes);
  {
    std::lock_guard<std::mutex> l(m_);
    auto it = free_.find(n);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_ -= n;
      in_use_ += n;
      peak_ = std::max(peak_, in_use_);
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_cache();
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail(malloc_failure(device_, n, in_use_bytes(), e));
  }
  std::lock_guard<std::mutex> l(m_);
  in_use_ += n;
  peak_ = std::max(peak_, in_use_);
  return p;
}

void DeviceAllocator::deallocate(void* p, size_t bytes) {
  if (!p) return;
  const size_t n = rounded(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> l(m_);
  free_[n].push_back(p);
  cached_ += n;
  in_use_ -= n;
}

void DeviceAllocator::release_cache() {
  std::lock_guard<std::mutex> l(m_);
  cudaDeviceSynchronize();  // cudaFree would wait anyway; blocks may still be read by queued work
  for (auto& [n, v] : free_)
    for (void* p : v) cudaFree(p);
  free_.clear();
  cached_ = 0;
}

size_t DeviceAllocator::peak_in_use_bytes() {
  std::lock_guard<std::mutex> l(m_);
  return peak_;
}

size_t DeviceAllocator::cached_bytes() {
  std::lock_guard<std::mutex> l(m_);
  return cached_;
}

size_t DeviceAllocator::in_use_bytes() {
  std::lock_guard<std::mutex> l(m_);
  return in_use_;
}

}  // namespace fg::cuda
