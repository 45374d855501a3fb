#include "flowgrad/autograd/profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "flowgrad/tensor/counters.h"

namespace fg::ag {

namespace {
struct Entry {
  double ms = 0;
  long calls = 0;
  int64_t layout = 0;
};
struct Table {
  std::mutex m;
  std::map<std::string, Entry> entries;
  ~Table() {
    if (!profiling_enabled()) return;
    if (!entries.empty()) std::fputs(profile_report().c_str(), stderr);
    std::fputs(counters_report(Counters{}, counters()).c_str(), stderr);
  }
};
Table& table() {
  static Table t;
  return t;
}
const bool g_on = [] {
  const char* e = std::getenv("FG_PROFILE");
  return e && *e && std::string(e) != "0";
}();
}  // namespace

bool profiling_enabled() { return g_on; }

void profile_add(const char* op, bool backward, double ms, int64_t layout_bytes) {
  Table& t = table();
  std::lock_guard<std::mutex> l(t.m);
  Entry& e = t.entries[std::string(op) + (backward ? " (backward)" : "")];
  e.ms += ms;
  ++e.calls;
  e.layout += layout_bytes;
}

std::string profile_report() {
  Table& t = table();
  std::lock_guard<std::mutex> l(t.m);
  std::vector<std::pair<std::string, Entry>> v(t.entries.begin(), t.entries.end());
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second.ms > b.second.ms; });
  double total = 0;
  for (auto& [n, e] : v) total += e.ms;
  // ms per step where steps were marked (flowgrad/tensor/counters.h), since the table's last reset
  const double steps = static_cast<double>(counters().steps);
  std::string out = fmt::format("\nFG_PROFILE: {:.1f} ms in recorded ops{}\n{:<34} {:>12} {:>9} {:>9} {:>7} {:>10}\n",
                                total, steps > 0 ? fmt::format(" over {:.0f} steps", steps) : "", "op", "total ms",
                                "ms/step", "calls", "share", "layout MB");
  for (auto& [n, e] : v)
    out += fmt::format("{:<34} {:>12.1f} {:>9} {:>9} {:>6.1f}% {:>10.1f}\n", n, e.ms,
                       steps > 0 ? fmt::format("{:.2f}", e.ms / steps) : "-", e.calls,
                       total > 0 ? 100 * e.ms / total : 0, e.layout / 1e6);
  return out;
}

void profile_reset() {
  Table& t = table();
  std::lock_guard<std::mutex> l(t.m);
  t.entries.clear();
}

}  // namespace fg::ag
