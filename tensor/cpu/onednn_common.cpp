// oneDNN engine/stream singletons, error conversion and the thread-count hook (see onednn_common.h).
// Threads: Debian's libdnnl 2.6.3 is built with DNNL_CPU_THREADING_RUNTIME=OMP (libgomp), so
// oneDNN runs its primitives on the same OpenMP pool as our reference loops and takes its thread
// count from omp_get_max_threads() at each call (OMP_NUM_THREADS or omp_set_num_threads).
// set_num_threads therefore only forwards to omp_set_num_threads; plans are keyed by the thread
// count, so primitives created for another count are rebuilt rather than reused.
#include "tensor/cpu/onednn_common.h"

#include <omp.h>

#include <cstdlib>

#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu::onednn {

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

std::mutex& exec_mutex() {
  static std::mutex m;
  return m;
}

void* scratch_slot(int slot, size_t bytes) {
  struct Slot {
    void* p = nullptr;
    size_t n = 0;
  };
  static Slot slots[kScratchSlots];
  FG_CHECK(slot >= 0 && slot < kScratchSlots, "onednn: scratch slot {} out of range", slot);
  Slot& s = slots[slot];
  if (bytes > s.n) {
    std::free(s.p);
    s.n = (bytes + 4095) / 4096 * 4096;
    s.p = std::aligned_alloc(64, s.n);
    if (!s.p) {
      s.n = 0;
      fail(fmt::format("onednn: out of memory allocating {} bytes of scratch", bytes));
    }
  }
  return s.p;
}

int64_t max_threads() { return omp_get_max_threads(); }

void throw_dnnl_error(const dnnl::error& e, const char* what, const char* file, int line) {
  throw Error(fmt::format("oneDNN error in {} (status {}): {} at {}:{}", what, static_cast<int>(e.status),
                          e.what(), file, line));
}

void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace fg::cpu::onednn
