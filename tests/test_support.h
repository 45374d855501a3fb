// Shared helpers for the test suites: the one MNIST lookup every test uses, temporary
// directories, and running a program with its output captured.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "nn/mnist.h"

namespace fg::test {

// Real MNIST for the tests: $FLOWGRAD_MNIST, then $MNIST_DIR (as the programs), then
// $FLOWGRAD_TEST_MNIST (meson sets it to the source tree's data/mnist); the first directory that
// holds the four files, or "" when none does.
inline std::string mnist_dir() {
  for (const char* env : {"FLOWGRAD_MNIST", "MNIST_DIR", "FLOWGRAD_TEST_MNIST"}) {
    const char* v = std::getenv(env);
    if (!v || !*v) continue;
    bool all = true;
    for (auto [prefix, kind] : {std::pair{"train-images", "idx3"}, std::pair{"train-labels", "idx1"},
                                std::pair{"t10k-images", "idx3"}, std::pair{"t10k-labels", "idx1"}})
      all = all && !nn::find_mnist_file(v, prefix, kind).empty();
    if (all) return std::filesystem::absolute(v).string();
  }
  return "";
}

// For doctest::skip: true (skip) when MNIST is absent, saying so once per caller on stderr.
inline bool needs_mnist(const char* who) {
  bool none = mnist_dir().empty();
  if (none) std::fprintf(stderr, "%s: skipped: needs MNIST (tools/fetch_mnist, or set FLOWGRAD_MNIST)\n", who);
  return none;
}

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const char* tag = "fg-test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() / (std::string(tag) + "-" + std::to_string(getpid()) + "-" +
                                                     std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  size_t count_files() const {
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(path); it != std::filesystem::directory_iterator(); ++it) ++n;
    return n;
  }
};

struct Result {
  int code;            // exit status, or 128 + the signal that ended it
  std::string output;  // stdout and stderr together
};

// Runs `cmd` through /bin/sh with stderr joined to stdout.
inline Result run_command(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

inline std::string quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace fg::test
