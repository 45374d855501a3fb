// The op profiler's table (autograd/profiler.cpp): totals, calls, layout bytes and ms per marked
// step (flowgrad/tensor/counters.h), since the last reset.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "flowgrad/autograd/profiler.h"

using namespace fg;
using namespace fg::ag;

namespace {
// the whitespace-separated fields of the table row whose first field is name, or none
std::vector<std::string> row_of(const std::string& report, const std::string& name) {
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::vector<std::string> v;
    for (std::string w; f >> w;) v.push_back(w);
    if (!v.empty() && v[0] == name) return v;
  }
  return {};
}
}  // namespace

TEST_CASE("the profile table sums each op since the last reset, per marked step as well") {
  profile_reset();
  counters_reset();
  profile_add("matmul", false, 3.0, 0);
  profile_add("matmul", false, 1.0, 2'000'000);
  profile_add("matmul", true, 0.5, 0);
  counters_step();
  counters_step();
  const std::string r = profile_report();
  CHECK(r.find("4.5 ms in recorded ops over 2 steps") != std::string::npos);
  // op, total ms, ms/step, calls, share, layout MB
  CHECK(row_of(r, "matmul") == std::vector<std::string>{"matmul", "4.0", "2.00", "2", "88.9%", "2.0"});
  CHECK(r.find("matmul (backward)") != std::string::npos);

  profile_reset();
  counters_reset();  // no steps marked: totals only
  profile_add("add", false, 1.5, 0);
  const std::string t = profile_report();
  CHECK(t.find("1.5 ms in recorded ops\n") != std::string::npos);
  CHECK(row_of(t, "add") == std::vector<std::string>{"add", "1.5", "-", "1", "100.0%", "0.0"});
  CHECK(row_of(t, "matmul").empty());
  profile_reset();
}
