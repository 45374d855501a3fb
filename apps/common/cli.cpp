#include "apps/common/cli.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "flowgrad/dist/session.h"
#include "flowgrad/tensor/error.h"

namespace fg::app {

double parse_duration(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double mult = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  FG_CHECK(end != s.c_str() && mult > 0 && v >= 0 && std::isfinite(v),
           "bad duration '{}': expected a number with an optional unit s, m or h (e.g. 90s, 5m, 1.5h)", s);
  return v * mult;
}

int run_main(const char* prog, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    dist::Communicator& w = dist::world();
    if (w.size() == 1) {
      std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
      return 1;
    }
    // the other ranks may be waiting for this one in a collective: end them all now
    std::fprintf(stderr, "%s: error on rank %d of %d: %s\n", prog, w.rank(), w.size(), e.what());
    dist::abort_job(1);
  }
}

}  // namespace fg::app
