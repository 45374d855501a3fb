// Small helpers shared by the programs: durations, the top-level error handler, the progress bar.
#pragma once
#include <chrono>
#include <functional>
#include <string>

namespace fg::app {

// "90", "90s", "5m", "1.5h" -> seconds; throws fg::Error naming the bad text.
double parse_duration(const std::string& s);
std::string format_duration(double seconds);  // 1:02:03 or 4:05

// Runs body; fg::Error and other exceptions become one line on stderr and exit code 1.
int run_main(const char* prog, const std::function<int()>& body);

// A one-line progress bar on stderr: redrawn in place on a terminal, printed as plain lines
// every `plain_every` updates otherwise (logs, CI).
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
  bool tty_;
  double deadline_s_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace fg::app
