// libFuzzer harness: train_mnist's option parser (CLI11 plus our checks: durations, ranges,
// model names) on arbitrary command lines: the input split at NUL bytes into at most 24
// arguments. Parsing must return (help, an error code, or options) or throw fg::Error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "apps/train_mnist/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"train_mnist"};
  std::string cur;
  for (size_t i = 0; i < size && args.size() < 24; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (!cur.empty() && args.size() < 24) args.push_back(cur);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The parser prints help and errors. Under libFuzzer, tools/fuzz passes -close_fd_mask=3, which
  // silences them and keeps libFuzzer's own output (its statistics); the smoke driver has no such
  // option, so there the harness closes them itself.
  static bool quiet = [] {
    if (std::getenv("FG_FUZZ_LIBFUZZER")) return true;
    return std::freopen("/dev/null", "w", stderr) && std::freopen("/dev/null", "w", stdout);
  }();
  (void)quiet;
  fg::app::TrainOptions o;
  int code = 0;
  try {
    fg::app::parse_train_options(static_cast<int>(args.size()), argv.data(), o, code);
  } catch (const fg::Error&) {
  }
  return 0;
}
