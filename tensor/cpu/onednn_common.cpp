// oneDNN engine/stream singletons, error conversion and the thread-count hook (see onednn_common.h).
// Threads: Debian's libdnnl 2.6.3 is built with DNNL_CPU_THREADING_RUNTIME=OMP (libgomp), so
// oneDNN runs its primitives on the same OpenMP pool as our reference loops and takes its thread
// count from omp_get_max_threads() at each call (OMP_NUM_THREADS or omp_set_num_threads).
// set_num_threads therefore only forwards to omp_set_num_threads; plans are keyed by the thread
// count, so primitives created for another count are rebuilt rather than reused.
#include "tensor/cpu/onednn_common.h"

#include <omp.h>

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

int64_t max_threads() { return omp_get_max_threads(); }

void throw_dnnl_error(const dnnl::error& e, const char* what, const char* file, int line) {
  throw Error(fmt::format("oneDNN error in {} (status {}): {} at {}:{}", what, static_cast<int>(e.status),
                          e.what(), file, line));
}

void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace fg::cpu::onednn
