// Caching allocator for CPU tensors. Large blocks (>= 64 KiB) are kept on exact-size free lists
// when released and handed out again, so a training loop that allocates the same activation
// shapes every step stops paying mmap/munmap and page faults. The cache is bounded
// (FG_CPU_CACHE_MB, default 4096 MiB); beyond that, blocks go back to the system.
#pragma once
#include <cstddef>

namespace fg::cpu {

void* cached_alloc(size_t bytes);
void cached_free(void* p, size_t bytes);
size_t cached_bytes();  // bytes currently held on the free lists
void release_cache();   // returns every cached block to the system

}  // namespace fg::cpu
