#include "flowgrad/tensor/counters.h"

#include <atomic>

#include <fmt/format.h>

namespace fg {

namespace {
std::atomic<int64_t> g_launches{0}, g_reads{0}, g_layout{0}, g_live{0}, g_peak{0}, g_steps{0};
}  // namespace

Counters counters() {
  return {g_launches.load(), g_reads.load(), g_layout.load(), g_live.load(), g_peak.load(), g_steps.load()};
}
void count_launch() { g_launches.fetch_add(1, std::memory_order_relaxed); }
void count_host_read() { g_reads.fetch_add(1, std::memory_order_relaxed); }
void count_layout_bytes(int64_t n) { g_layout.fetch_add(n, std::memory_order_relaxed); }
void count_alloc(int64_t bytes) {
  int64_t now = g_live.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void count_free(int64_t bytes) { g_live.fetch_sub(bytes, std::memory_order_relaxed); }
void counters_step() { g_steps.fetch_add(1, std::memory_order_relaxed); }
void counters_reset() {
  g_launches = 0;
  g_reads = 0;
  g_layout = 0;
  g_steps = 0;
  g_peak = g_live.load();
}

std::string counters_report(const Counters& a, const Counters& b) {
  int64_t steps = b.steps - a.steps;
  double n = steps > 0 ? static_cast<double>(steps) : 1.0;
  const char* per = steps > 0 ? "per step" : "in total";
  return fmt::format(
      "kernel launches {}: {:.0f}\nhost reads {}: {:.1f}\nlayout bytes copied {}: {:.1f} MB\n"
      "peak tensor memory: {:.1f} MB (steps counted: {})\n",
      per, (b.launches - a.launches) / n, per, (b.host_reads - a.host_reads) / n, per,
      (b.layout_bytes - a.layout_bytes) / n / 1e6, b.peak_bytes / 1e6, steps);
}

}  // namespace fg
