// Op-level profiler: with FG_PROFILE=1 in the environment, every recorded op's forward and every
// Node's backward is timed by name, and a table (total ms, calls, share) is printed to stderr at
// exit. Costs one branch per op when off.
#pragma once
#include <chrono>
#include <string>

namespace fg::ag {

bool profiling_enabled();
void profile_add(const char* op, bool backward, double ms);
std::string profile_report();  // the table, sorted by total time
void profile_reset();

class ProfileScope {
 public:
  ProfileScope(const char* op, bool backward) : op_(op), backward_(backward), on_(profiling_enabled()) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (on_)
      profile_add(op_, backward_,
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count());
  }

 private:
  const char* op_;
  bool backward_, on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace fg::ag
