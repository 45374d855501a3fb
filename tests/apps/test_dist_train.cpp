// train_mnist under mpirun on 2 ranks (suite 'mpi', run through tests/dist/run_mpi.sh, which
// skips it without MPI or mpirun), on the tiny synthetic MNIST of test_support.h:
//   - 2 ranks x 32 reproduce 1 process x 64 for 20 steps of simple and of glow (ActNorm's
//     data-dependent init included): losses, validation and optimizer state within kTol, the
//     parameters within kCoordTol and kNormTol (below: why), the RNG state exactly, and the ranks'
//     parameters bit-identical (their checksums, allgathered at the end);
//   - a run stopped on 2 ranks resumes on 1 process (another rank count) on the same losses;
//   - faults: a rank killed with SIGKILL ends the job within seconds, non-zero, and the last
//     checkpoint loads; a rank that hangs is named by the others' watchdog within --dist-timeout;
//     replicas out of step are caught at the next checkpoint, which is not written; ranks started
//     with different options, or a batch smaller than the world, stop at once with a clear error.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "flowgrad/nn/checkpoint.h"
#include "test_support.h"

using namespace fg;
using fg::test::Result;
using fg::test::TempDir;
using fg::test::train_losses;
namespace fs = std::filesystem;

namespace {

// Why 1e-4 on losses (relative), validation scores and optimizer state: the ranks sum their
// gradients in another order than one process (two sums of 32 rows, then a sum of the two, against
// one sum of 64; ActNorm's init likewise sums its statistics per rank), so every float32 result
// differs by rounding, a few 1e-7 relative; over 20 steps the measured differences stay below
// 3e-7 in the losses and 1e-5 in the optimizer state, and 1e-4 leaves room for other CPUs'
// kernels. One process on 1 or on 2 threads agrees to 6e-8 (its kernels keep their order), so
// what is left is the splitting alone. A real bug (a wrong shard, a missing reduction, local
// ActNorm statistics) moves the losses by 1e-2 or more from the first steps on.
constexpr double kTol = 1e-4;
// Parameters, coordinate by coordinate, cannot be held to kTol under Adam: a coordinate whose
// gradient is zero in exact arithmetic is rounding noise in float (ActNorm's init makes its
// output's batch mean zero, so its `loc` gradient, and what a zero-initialized coupling output
// passes back, is ~1e-9), and Adam's step lr * m / (sqrt(v) + eps) turns that noise into a move of
// up to lr = 1e-3 whose size depends on the summation order. Glow's run measured 1.2e-3 on such
// coordinates (one Adam step) while its losses agreed to 2.4e-7. So: each coordinate within 2 lr
// (kCoordTol), and the whole model within kNormTol of its norm (||a - b|| / ||a||, measured
// 3e-4 for glow, 8e-8 for simple): a run that took other steps differs in every coordinate.
constexpr double kCoordTol = 2e-3;
constexpr double kNormTol = 1e-3;

std::string train_bin() {
  const char* e = std::getenv("FLOWGRAD_TRAIN_BIN");
  return e ? e : "apps/train_mnist";
}

std::string mpirun() { return "mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS=1"; }

Result run1(const std::string& args) { return fg::test::run_command(train_bin() + " --threads 2 " + args); }
Result run2(const std::string& args) { return fg::test::run_command(mpirun() + " -np 2 " + train_bin() + " --threads 1 " + args); }
// rank 0 and rank 1 each with their own arguments (and environment: "env FG_FAULT=..." as a prefix)
Result run_ranks(const std::string& rank0, const std::string& rank1) {
  return fg::test::run_command(mpirun() + " -np 1 " + train_bin() + " --threads 1 " + rank0 + " : -np 1 " + rank1);
}

std::string common(const fs::path& data) {
  return fmt::format("--data {} --train-size 200 --val-batches 1 --no-test --seed 3 --samples 4 --log-every 5",
                     data.string());
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(a[i])));
  return a.size() == b.size() ? m : INFINITY;
}

// the largest absolute difference over the floating tensors of two checkpoints' maps, and where
struct TensorDiff {
  double max = 0;
  std::string where;
};
TensorDiff tensor_diff(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return {INFINITY, "the tensor names"};
  TensorDiff d;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.shape() != t.shape()) return {INFINITY, name};
    if (!is_floating(t.dtype())) continue;
    const double m = max_abs_diff(t.to(DType::F64), it->second.to(DType::F64));
    if (m > d.max) d = {m, name};
  }
  return d;
}
double max_tensor_diff(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  return tensor_diff(a, b).max;
}

// ||a - b|| / ||a|| over all floating tensors of a checkpoint's map (same names and shapes)
double rel_norm_diff(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  double num = 0, den = 0;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.shape() != t.shape()) return INFINITY;
    if (!is_floating(t.dtype())) continue;
    const Tensor x = t.to(DType::F64).contiguous(), y = it->second.to(DType::F64).contiguous();
    const double* px = x.data<double>();
    const double* py = y.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      num += (px[i] - py[i]) * (px[i] - py[i]);
      den += px[i] * px[i];
    }
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

std::vector<double> val_scores(const fs::path& metrics) { return train_losses(metrics, "val_bpd"); }

}  // namespace

TEST_CASE("2 ranks x 32 train as 1 process x 64: simple and glow (ActNorm's init), 20 steps, within 1e-4") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  for (const std::string model : {"simple", "glow --glow-k 2 --glow-hidden 16"}) {
    CAPTURE(model);
    const std::string args = common(t.path) + " --model " + model + " --batch 64 --max-steps 20 --val-every 10";
    const fs::path one = t.path / "one", two = t.path / "two";
    fs::remove_all(one);
    fs::remove_all(two);
    Result a = run1(args + " --out " + one.string());
    INFO(a.output);
    REQUIRE(a.code == 0);
    Result b = run2(args + " --out " + two.string());
    INFO(b.output);
    REQUIRE(b.code == 0);
    CHECK(b.output.find("data parallel: 2 ranks (mpi), global batch 64 (32 on rank 0)") != std::string::npos);
    // the replicas are one model: the parameters' checksums, allgathered at the end, are equal
    CHECK(b.output.find("the 2 ranks' parameters are bit-identical") != std::string::npos);
    const auto la = train_losses(one / "metrics.jsonl"), lb = train_losses(two / "metrics.jsonl");
    REQUIRE(la.size() == 20);
    REQUIRE(lb.size() == 20);  // one line per step: rank 0 alone wrote the log
    MESSAGE(model << ": max relative loss difference " << max_rel_diff(la, lb));
    CHECK(max_rel_diff(la, lb) < kTol);
    CHECK(max_rel_diff(val_scores(one / "metrics.jsonl"), val_scores(two / "metrics.jsonl")) < kTol);
    nn::Checkpoint ca = nn::load_checkpoint((one / "last.safetensors").string());
    nn::Checkpoint cb = nn::load_checkpoint((two / "last.safetensors").string());
    MESSAGE(model << ": max parameter difference " << max_tensor_diff(ca.model, cb.model) << " ("
                  << tensor_diff(ca.model, cb.model).where << "), relative norm " << rel_norm_diff(ca.model, cb.model)
                  << ", optimizer state " << max_tensor_diff(ca.optim, cb.optim));
    CHECK(max_tensor_diff(ca.model, cb.model) < kCoordTol);
    CHECK(rel_norm_diff(ca.model, cb.model) < kNormTol);
    CHECK(max_tensor_diff(ca.optim, cb.optim) < kTol);
    CHECK(cb.get("step") == "20");
    CHECK(cb.get("rng_seed") == ca.get("rng_seed"));  // the draws were keyed by the global index:
    CHECK(cb.get("rng_offset") == ca.get("rng_offset"));  // both generators took the same counters
  }
}

TEST_CASE("a run stopped on 2 ranks resumes on 1 process (another rank count) on the same losses") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common(t.path) + " --model simple --batch 32 --val-every 100";
  Result ref = run1(args + " --max-steps 12 --out " + (t.path / "ref").string());
  REQUIRE(ref.code == 0);
  Result first = run2(args + " --max-steps 6 --out " + (t.path / "r").string());
  INFO(first.output);
  REQUIRE(first.code == 0);
  Result second = run1(args + " --max-steps 12 --resume --out " + (t.path / "r").string());
  INFO(second.output);
  REQUIRE(second.code == 0);
  const auto lr = train_losses(t.path / "ref" / "metrics.jsonl"), lb = train_losses(t.path / "r" / "metrics.jsonl");
  REQUIRE(lb.size() == 12);
  CHECK(max_rel_diff(lr, lb) < kTol);
}

TEST_CASE("a rank killed with SIGKILL: the job ends non-zero within seconds, and last.safetensors loads") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const fs::path out = t.path / "k", log = t.path / "log.txt";
  const std::string cmd = "exec " + mpirun() + " -np 2 " + train_bin() + " --threads 1 " + common(t.path) +
                          " --model simple --batch 32 --max-steps 400 --save-every 2 --val-every 1000 --out " +
                          out.string() + " > " + log.string() + " 2>&1";
  const pid_t job = fork();
  REQUIRE(job >= 0);
  if (job == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // wait for a checkpoint and a few more steps, then kill the second rank
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  while (seconds() < 120 && (!fs::exists(out / "last.safetensors") || train_losses(out / "metrics.jsonl").size() < 3))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  Result kids = fg::test::run_command(fmt::format("pgrep -P {}", job));
  std::vector<pid_t> ranks;
  for (std::istringstream in(kids.output); in;) {
    long pid = 0;
    if (in >> pid) ranks.push_back(static_cast<pid_t>(pid));
  }
  REQUIRE(ranks.size() == 2);
  const auto killed_at = std::chrono::steady_clock::now();
  kill(ranks[1], SIGKILL);
  int status = 0;
  waitpid(job, &status, 0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(output);
  CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(took < 10.0);
  MESSAGE("the job ended " << took << " s after the kill");
  CHECK(output.find("exited on signal 9") != std::string::npos);  // mpirun names the rank
  nn::Checkpoint ck = nn::load_checkpoint((out / "last.safetensors").string());
  CHECK(std::stoll(ck.get("step")) >= 2);
}

TEST_CASE("a rank that hangs: the other's watchdog stops the job within --dist-timeout, naming it") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common(t.path) + " --model simple --batch 32 --max-steps 50 --val-every 1000 --dist-timeout 3";
  const auto t0 = std::chrono::steady_clock::now();
  Result r = run_ranks(args + " --out " + (t.path / "h").string(),
                       "env FG_FAULT=dist.hang@3 " + train_bin() + " --threads 1 " + args + " --out " + (t.path / "h").string());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.output);
  CHECK(r.code == 75);
  CHECK(r.output.find("rank 1 did not join it") != std::string::npos);
  CHECK(r.output.find("stuck in its own work") != std::string::npos);
  CHECK(took < 30.0);
}

TEST_CASE("replicas out of step are caught at the next checkpoint, which is not written") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common(t.path) + " --model simple --batch 32 --max-steps 8 --save-every 4 --val-every 1000";
  const fs::path out = t.path / "d";
  Result r = run_ranks(args + " --out " + out.string(),
                       "env FG_FAULT=dist.desync@1 " + train_bin() + " --threads 1 " + args + " --out " + out.string());
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK(r.output.find("the ranks' parameters differ at step 4") != std::string::npos);
  CHECK(!fs::exists(out / "last.safetensors"));
}

TEST_CASE("ranks started with different options, or a batch smaller than the world: a clear error at once") {
  TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common(t.path) + " --model simple --batch 32 --max-steps 4 --out " + (t.path / "m").string();
  Result r = run_ranks(args, train_bin() + " --threads 1 " + args + " --lr 0.002");
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK(r.output.find("rank(s) 1 run another configuration than rank 0") != std::string::npos);
  Result b = run2(common(t.path) + " --model simple --batch 1 --max-steps 2 --out " + (t.path / "b").string());
  INFO(b.output);
  CHECK(b.code != 0);
  CHECK(b.output.find("a global batch of 1 cannot be split over 2 ranks") != std::string::npos);
}
