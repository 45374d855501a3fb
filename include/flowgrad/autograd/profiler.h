// Op-level profiler: with FG_PROFILE=1 in the environment, every recorded op's forward and every
// Node's backward is timed by name, and a table (total ms, calls, share) is printed to stderr at
// exit, followed by the engine counters per training step (flowgrad/tensor/counters.h: kernel launches,
// host reads, layout bytes copied, peak tensor memory). Costs one branch per op when off.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "flowgrad/tensor/counters.h"

namespace fg::ag {

bool profiling_enabled();
// ms of wall time and the bytes of layout copies made inside the op
void profile_add(const char* op, bool backward, double ms, int64_t layout_bytes);
std::string profile_report();  // the table, sorted by total time
void profile_reset();

class ProfileScope {
 public:
  ProfileScope(const char* op, bool backward) : op_(op), backward_(backward), on_(profiling_enabled()) {
    if (on_) {
      t0_ = std::chrono::steady_clock::now();
      layout0_ = counters().layout_bytes;
    }
  }
  ~ProfileScope() {
    if (on_)
      profile_add(op_, backward_,
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count(),
                  counters().layout_bytes - layout0_);
  }

 private:
  const char* op_;
  bool backward_, on_;
  std::chrono::steady_clock::time_point t0_;
  int64_t layout0_ = 0;
};

}  // namespace fg::ag
