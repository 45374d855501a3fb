// Engine counters, always on (a few relaxed atomic adds per op): kernel launches (calls into a
// Backend's kernels), host reads of tensor data (item, to_vector: a device sync on a GPU), bytes
// moved by layout copies (strided copies, contiguous()), and live / peak tensor memory. Programs
// mark steps with counters_step(); FG_PROFILE=1 prints the per-step averages at exit.
#pragma once
#include <cstdint>
#include <string>

namespace fg {

struct Counters {
  int64_t launches = 0;
  int64_t host_reads = 0;
  int64_t layout_bytes = 0;
  int64_t live_bytes = 0;   // tensor storage now allocated (all devices)
  int64_t peak_bytes = 0;   // highest live_bytes since the last counters_reset_peak()
  int64_t steps = 0;        // counters_step() calls
};

Counters counters();  // a snapshot
void count_launch();
void count_host_read();
void count_layout_bytes(int64_t n);
void count_alloc(int64_t bytes);
void count_free(int64_t bytes);
void counters_step();
void counters_reset();       // all but live_bytes; peak restarts at the live value
// "launches per step: ...", one line per counter, averaged over the counted steps.
std::string counters_report(const Counters& since, const Counters& now);

}  // namespace fg
