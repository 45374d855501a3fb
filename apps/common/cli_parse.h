// CLI11 parsing with the programs' shared conventions: --help prints and exits 0, a bad command
// line prints one line naming the program and exits 2. Also the one --device option of every
// program.
#pragma once
#include <CLI/CLI.hpp>
#include <stdexcept>
#include <cstdio>

#include "tensor/backend.h"

namespace fg::app {

// --device cpu|cuda|cuda:N: a malformed name is a command-line error (exit 2); whether the device
// is there is checked by open_device, once the program runs.
inline CLI::Option* add_device_option(CLI::App& app, std::string& device) {
  return app.add_option("--device", device, "cpu, cuda or cuda:N (a GPU; see `flowgrad info`)")
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              Device::parse(s);
              return std::string();
            } catch (const std::exception& e) {
              return std::string(e.what());
            }
          },
          "DEVICE", "device"))
      ->capture_default_str();
}

// Data-parallel settings (they matter under mpirun; docs/distributed.md).
struct DistCli {
  double timeout_s = 600;  // --dist-timeout
  double bucket_mb = 25;   // --bucket-mb
};
inline void add_dist_options(CLI::App& app, DistCli& d) {
  app.add_option("--dist-timeout", d.timeout_s,
                 "under mpirun: seconds a rank waits for the others in a collective before the job stops, naming "
                 "the rank that did not join")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--bucket-mb", d.bucket_mb, "under mpirun: size of the gradient buckets reduced during backward "
                 "(MB; the first is at most 1 MB)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// The device named by --device, or fg::Error "--device cuda:3: <why it cannot be used>".
inline Device open_device(const std::string& device) {
  Device d = Device::parse(device);
  std::string why;
  FG_CHECK(device_available(d, &why), "--device {}: {}", device, why);
  return d;
}

// Returns false when the program should exit now with `exit_code`.
inline bool parse_cli(CLI::App& app, int argc, char** argv, const char* prog, int& exit_code) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    exit_code = app.exit(e);
    return false;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", prog, e.what());
    exit_code = 2;
    return false;
  } catch (const std::logic_error& e) {
    // CLI11 2.1 lets std::stoll's out_of_range escape for a flag given a huge number
    // (`--no-test=1777...`, found by fuzzing): a bad option too, not a crash
    std::fprintf(stderr, "%s: an option's value is out of range (see --help)\n", prog);
    exit_code = 2;
    return false;
  }
  return true;
}

}  // namespace fg::app
