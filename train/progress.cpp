#include "flowgrad/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "flowgrad/dist/communicator.h"

namespace fg::train {

std::string format_duration(double sec) {
  if (!std::isfinite(sec) || sec < 0) return "--:--";
  long t = std::lround(sec);
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

Progress::Progress(std::string label, int64_t total, int64_t plain_every)
    : label_(std::move(label)), total_(total), plain_every_(plain_every), tty_(isatty(fileno(stderr))),
      silent_(dist::world().rank() != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t done, const std::string& suffix) {
  if (silent_) return;
  auto now = std::chrono::steady_clock::now();
  double el = std::chrono::duration<double>(now - start_).count();
  double rate = el > 0 ? done / el : 0;
  double eta = rate > 0 && total_ > 0 ? (total_ - done) / rate : NAN;
  if (deadline_s_ > 0) eta = std::isnan(eta) ? deadline_s_ - el : std::min(eta, std::max(0.0, deadline_s_ - el));
  if (tty_) {
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    int width = 24, fill = total_ > 0 ? static_cast<int>(width * std::min<double>(1.0, double(done) / total_)) : 0;
    std::fprintf(stderr, "\r\033[K%s [%s%s] %ld/%ld %.2f it/s ETA %s %s", label_.c_str(), std::string(fill, '=').c_str(),
                 std::string(width - fill, ' ').c_str(), static_cast<long>(done), static_cast<long>(total_), rate,
                 format_duration(eta).c_str(), suffix.c_str());
  } else if (done / plain_every_ != last_plain_) {
    last_plain_ = done / plain_every_;
    std::fprintf(stderr, "%s %ld/%ld  %.2f it/s  ETA %s  %s\n", label_.c_str(), static_cast<long>(done),
                 static_cast<long>(total_), rate, format_duration(eta).c_str(), suffix.c_str());
  }
  std::fflush(stderr);
}

void Progress::finish(const std::string& suffix) {
  if (silent_) return;
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s done in %s %s\n", tty_ ? "\r\033[K" : "", label_.c_str(), format_duration(el).c_str(),
               suffix.c_str());
}

}  // namespace fg::train
