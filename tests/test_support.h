// Shared helpers for the test suites: the one MNIST lookup every test uses, temporary
// directories, running a program with its output captured, and a tiny synthetic MNIST with the
// per-step losses of a training run's metrics.jsonl.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flowgrad/nn/idx.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/tensor/ops.h"

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

// 240 training and 32 test images of random pixels, in MNIST's four IDX files.
inline void write_tiny_mnist(const std::filesystem::path& dir) {
  Generator g(5);
  auto imgs = [&](int64_t n) { return floor(uniform({n, 28, 28}, 0, 256, DType::F32, Device::cpu(), &g)).to(DType::U8); };
  auto labels = [&](int64_t n) { return floor(uniform({n}, 0, 10, DType::F32, Device::cpu(), &g)).to(DType::U8); };
  nn::write_idx((dir / "train-images-idx3-ubyte").string(), imgs(240));
  nn::write_idx((dir / "train-labels-idx1-ubyte").string(), labels(240));
  nn::write_idx((dir / "t10k-images-idx3-ubyte").string(), imgs(32));
  nn::write_idx((dir / "t10k-labels-idx1-ubyte").string(), labels(32));
}

// The per-step losses of metrics.jsonl (null for a skipped step becomes NaN).
inline std::vector<double> train_losses(const std::filesystem::path& metrics, const std::string& key = "train_bpd") {
  std::ifstream in(metrics);
  std::vector<double> v;
  std::string line;
  while (std::getline(in, line))
    if (auto j = nlohmann::json::parse(line); j.contains(key))
      v.push_back(j[key].is_number() ? j[key].get<double>() : NAN);
  return v;
}

}  // namespace fg::test
