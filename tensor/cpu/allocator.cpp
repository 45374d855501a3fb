#include "tensor/cpu/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "flowgrad/tensor/error.h"

namespace fg::cpu {

namespace {

constexpr size_t kAlign = 64, kLarge = 64 << 10, kPage = 4096;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

struct Cache {
  std::mutex m;
  std::map<size_t, std::vector<void*>> free;
  size_t held = 0;
  size_t limit = [] {
    const char* e = std::getenv("FG_CPU_CACHE_MB");
    return (e ? std::strtoull(e, nullptr, 10) : 4096ull) << 20;
  }();
  ~Cache() {
    for (auto& [n, v] : free)
      for (void* p : v) std::free(p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

void* system_alloc(size_t n) {
  void* p = std::aligned_alloc(kAlign, n);
  if (!p) fail(fmt::format("cpu: out of memory allocating {} bytes", n));
  return p;
}

}  // namespace

void* cached_alloc(size_t bytes) {
  if (bytes < kLarge) return system_alloc(round_up(bytes, kAlign));
  size_t n = round_up(bytes, kPage);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> l(c.m);
    auto it = c.free.find(n);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.held -= n;
      return p;
    }
  }
  try {
    return system_alloc(n);
  } catch (const Error&) {
    release_cache();  // memory is tight: give back what we hold and retry once
    return system_alloc(n);
  }
}

void cached_free(void* p, size_t bytes) {
  if (!p) return;
  if (bytes < kLarge) {
    std::free(p);
    return;
  }
  size_t n = round_up(bytes, kPage);
  Cache& c = cache();
  std::lock_guard<std::mutex> l(c.m);
  if (c.held + n > c.limit) {
    std::free(p);
    return;
  }
  c.free[n].push_back(p);
  c.held += n;
}

size_t cached_bytes() {
  std::lock_guard<std::mutex> l(cache().m);
  return cache().held;
}

void release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> l(c.m);
  for (auto& [n, v] : c.free)
    for (void* p : v) std::free(p);
  c.free.clear();
  c.held = 0;
}

}  // namespace fg::cpu
