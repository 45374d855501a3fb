// Threading for our own CPU loops: OpenMP (the runtime oneDNN uses too), with a grain size so
// small tensors stay on one thread.
#pragma once
#include <cstdint>

namespace fg::cpu {

constexpr int64_t kGrain = 32768;

// Calls f(begin, end) over [0, n) split into contiguous chunks, in parallel when n is large.
template <class F>
void parallel_for(int64_t n, F&& f, int64_t grain = kGrain) {
  if (n <= grain) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  int64_t chunks = (n + grain - 1) / grain;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = c * grain, e = b + grain < n ? b + grain : n;
    f(b, e);
  }
}

}  // namespace fg::cpu
