// train_mnist end to end on a tiny synthetic MNIST (random digits written as IDX files):
// an interrupted-and-resumed run continues the exact sequence of losses of an uninterrupted one;
// SIGKILL at any moment leaves a loadable last checkpoint that --resume continues from; bad
// options, a missing data directory and a corrupt checkpoint give one-line errors.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "nn/checkpoint.h"
#include "nn/idx.h"

using namespace fg;
namespace fs = std::filesystem;

namespace {

std::string train_bin() {
  const char* e = std::getenv("FLOWGRAD_TRAIN_BIN");
  return e ? e : "apps/train_mnist";
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / fmt::format("fg-train-test-{}-{}", getpid(), rand_counter()++);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& rand_counter() {
    static int c = 0;
    return c;
  }
};

// 240 training and 32 test images of random pixels, in MNIST's four IDX files.
void write_tiny_mnist(const fs::path& dir) {
  Generator g(5);
  auto imgs = [&](int64_t n) { return floor(uniform({n, 28, 28}, 0, 256, DType::F32, Device::cpu(), &g)).to(DType::U8); };
  auto labels = [&](int64_t n) { return floor(uniform({n}, 0, 10, DType::F32, Device::cpu(), &g)).to(DType::U8); };
  nn::write_idx((dir / "train-images-idx3-ubyte").string(), imgs(240));
  nn::write_idx((dir / "train-labels-idx1-ubyte").string(), labels(240));
  nn::write_idx((dir / "t10k-images-idx3-ubyte").string(), imgs(32));
  nn::write_idx((dir / "t10k-labels-idx1-ubyte").string(), labels(32));
}

struct Result {
  int code;
  std::string output;
};

Result run(const std::string& args) {
  std::string cmd = train_bin() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

std::vector<double> train_losses(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::vector<double> v;
  std::string line;
  while (std::getline(in, line))
    if (auto j = nlohmann::json::parse(line); j.contains("train_bpd")) v.push_back(j["train_bpd"].get<double>());
  return v;
}

std::string common_args(const fs::path& data) {
  return fmt::format("--data {} --train-size 200 --batch 16 --val-batches 1 --log-every 1 --no-test --seed 3 "
                     "--samples 4 --threads 2",
                     data.string());
}

}  // namespace

TEST_CASE("an interrupted and resumed run continues the uninterrupted run's exact losses") {
  TempDir t;
  write_tiny_mnist(t.path);
  std::string args = common_args(t.path) + " --val-every 3";
  Result a = run(args + " --max-steps 6 --out " + (t.path / "a").string());
  INFO(a.output);
  REQUIRE(a.code == 0);
  Result b1 = run(args + " --max-steps 3 --out " + (t.path / "b").string());
  REQUIRE(b1.code == 0);
  Result b2 = run(args + " --max-steps 6 --resume --out " + (t.path / "b").string());
  INFO(b2.output);
  REQUIRE(b2.code == 0);
  CHECK(b2.output.find("resumed") != std::string::npos);
  auto la = train_losses(t.path / "a" / "metrics.jsonl"), lb = train_losses(t.path / "b" / "metrics.jsonl");
  REQUIRE(la.size() == 6);
  CHECK(lb == la);  // bit-identical: same data order, noise, optimizer state
  CHECK(fs::exists(t.path / "a" / "best.safetensors"));
  CHECK(fs::exists(t.path / "a" / "samples_latest.png"));
}

TEST_CASE("SIGKILL at any moment leaves a loadable last checkpoint, and --resume continues") {
  TempDir t;
  write_tiny_mnist(t.path);
  fs::path out = t.path / "run";
  std::string args = common_args(t.path) + " --val-every 1 --out " + out.string();
  int64_t last_step = 0;
  for (int trial = 0; trial < 3; ++trial) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string cmd = train_bin() + " " + args + " --max-steps 200" + (trial > 0 ? " --resume" : "") + " >/dev/null 2>&1";
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // wait for a checkpoint, then kill at a different moment each trial (often mid-write)
    auto t0 = std::chrono::steady_clock::now();
    while (!fs::exists(out / "last.safetensors") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 450 * trial));
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(fs::exists(out / "last.safetensors"));
    nn::Checkpoint ck = nn::load_checkpoint((out / "last.safetensors").string());
    CHECK(ck.get_int("step") >= std::max<int64_t>(1, last_step));  // resumed runs went on from there
    last_step = ck.get_int("step");
    for (auto& e : fs::directory_iterator(out))  // no temporary files left next to the checkpoints
      CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path().string());
  }
  Result fin = run(args + fmt::format(" --max-steps {} --resume", last_step + 2));
  INFO(fin.output);
  CHECK(fin.code == 0);
  CHECK(fin.output.find("resumed") != std::string::npos);
}

TEST_CASE("bad options, missing data and corrupt checkpoints: one-line errors and non-zero exits") {
  TempDir t;
  Result r = run("--model nonsense");
  CHECK(r.code == 2);
  CHECK(r.output.find("nonsense") != std::string::npos);
  r = run("--batch -3");
  CHECK(r.code == 2);
  r = run("--time-limit 5x --data " + t.path.string());
  CHECK(r.code == 2);
  CHECK(r.output.find("bad duration '5x'") != std::string::npos);
  r = run("--data " + (t.path / "nowhere").string() + " --out " + (t.path / "o").string());
  CHECK(r.code == 1);
  CHECK(r.output.find("fetch_mnist") != std::string::npos);
  std::ofstream(t.path / "bad.safetensors") << "definitely not a checkpoint";
  write_tiny_mnist(t.path);
  r = run("--eval-only " + (t.path / "bad.safetensors").string() + " --data " + t.path.string() + " --out " +
          (t.path / "o").string());
  CHECK(r.code == 1);
  CHECK(r.output.find("bad.safetensors") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  r = run("--device cuda:9 --data " + t.path.string());
  CHECK(r.code == 1);
  CHECK(r.output.find("cuda:9") != std::string::npos);
  r = run("--help");
  CHECK(r.code == 0);
  CHECK(r.output.find("--resume") != std::string::npos);
}
