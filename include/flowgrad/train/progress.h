// Progress reporting for long work (training, evaluation, sampling): a one-line bar on stderr and
// the duration format it uses.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace fg::train {

// Seconds as 1:02:03 (with hours) or 4:05; "--:--" for a negative or non-finite value.
std::string format_duration(double seconds);

// A one-line progress bar on stderr: redrawn in place on a terminal, printed as plain lines
// every `plain_every` updates otherwise (logs, CI). In a data-parallel job only rank 0 draws bars.
class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t plain_every = 50);
  void update(int64_t done, const std::string& suffix);
  // A wall-clock budget (e.g. --time-limit): the ETA shown is never past it.
  void set_deadline(double seconds_from_start) { deadline_s_ = seconds_from_start; }
  void finish(const std::string& suffix);

 private:
  std::string label_;
  int64_t total_, plain_every_, last_plain_ = -1;
  bool tty_, silent_;
  double deadline_s_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace fg::train
