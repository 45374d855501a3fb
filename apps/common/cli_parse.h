// CLI11 parsing with the programs' shared conventions: --help prints and exits 0, a bad command
// line prints one line naming the program and exits 2.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>

namespace fg::app {

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
  }
  return true;
}

}  // namespace fg::app
