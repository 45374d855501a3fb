// The flow models on cuda:0 against the CPU: the same seed gives the same uniform stream; every
// model's loss and gradients agree; a training step reads nothing back; train_mnist's first 20
// losses agree, a GPU checkpoint scores the same test bpd on the CPU, --resume on the GPU
// continues the uninterrupted losses; a bad device id and an out-of-memory request give one-line
// errors. (Run by tests/cuda/gpu_main.cpp: only where cuda:0 exists.)
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "flowgrad/flows/models.h"
#include "flowgrad/nn/optim.h"
#include "tensor/backend.h"
#include "flowgrad/tensor/counters.h"
#include "test_support.h"

using namespace fg;
namespace fs = std::filesystem;

namespace {

const Device kGpu = Device::cuda(0);

double rel_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double d = 0, s = 1e-12;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    s = std::max(s, std::abs(x[i]));
  }
  return d / s;
}

std::string train_bin() {
  const char* e = std::getenv("FLOWGRAD_TRAIN_BIN");
  return e ? e : "apps/train_mnist";
}

fg::test::Result train(const std::string& args) { return fg::test::run_command(train_bin() + " " + args); }

std::string common_args(const fs::path& data) {
  return fmt::format("--data {} --train-size 200 --batch 16 --val-batches 1 --no-test --seed 3 --samples 4 --threads 2",
                     data.string());
}

}  // namespace

TEST_CASE("the same seed gives the same uniform stream on the cpu and on cuda, and nearly the same normals") {
  for (DType t : {DType::F32, DType::F64}) {
    Generator a(11), b(11);
    Tensor u_cpu = rand({1, 1000003}, t, Device::cpu(), &a), u_gpu = rand({1, 1000003}, t, kGpu, &b);
    CHECK(max_abs_diff(u_cpu, u_gpu.to(Device::cpu())) == 0.0);
    Tensor n_cpu = randn({4097}, t, Device::cpu(), &a), n_gpu = randn({4097}, t, kGpu, &b);
    CHECK(rel_diff(n_cpu, n_gpu) < (t == DType::F32 ? 1e-6 : 1e-12));
  }
}

TEST_CASE("every model's loss and parameter gradients on cuda match the cpu's") {
  for (const std::string& name : flows::model_names()) {
    INFO(name);
    manual_seed(4);
    flows::ModelConfig cfg{name};
    auto cpu_model = flows::build_image_model(cfg);
    manual_seed(4);
    auto gpu_model = flows::build_image_model(cfg);
    gpu_model->to(kGpu);
    Generator gi(9);
    Tensor imgs = floor(uniform({8, 1, 28, 28}, 0, 256, DType::F32, Device::cpu(), &gi));
    manual_seed(21);
    ag::Var lc = cpu_model->loss(imgs);
    lc.backward();
    manual_seed(21);
    ag::Var lg = gpu_model->loss(imgs.to(kGpu));
    lg.backward();
    CHECK(std::abs(lc.item() - lg.item()) <= 1e-4 * std::abs(lc.item()));
    auto pc = cpu_model->parameters(), pg = gpu_model->parameters();
    REQUIRE(pc.size() == pg.size());
    double worst = 0;
    for (size_t i = 0; i < pc.size(); ++i)
      if (pc[i].grad().defined()) worst = std::max(worst, rel_diff(pc[i].grad(), pg[i].grad()));
    MESSAGE(name, ": loss ", lc.item(), " (cpu) vs ", lg.item(), " (cuda), worst gradient difference ", worst);
    CHECK(worst < 1e-3);
  }
}

TEST_CASE("a training step on cuda reads nothing back to the host") {
  for (const char* name : {"simple", "multiscale", "glow"}) {
    manual_seed(2);
    auto model = flows::build_model({name});
    model->to(kGpu);
    nn::Adam opt(model->parameters(), 1e-3);
    Tensor imgs = floor(uniform({16, 1, 28, 28}, 0, 256)).to(kGpu);
    for (int step = 0; step < 3; ++step) {
      Counters c0 = counters();
      opt.zero_grad();
      nn::optimizer_step(model->bpd(imgs), opt, 1.0);
      Counters c1 = counters();
      if (step == 2) {
        INFO(name);
        CHECK(c1.host_reads == c0.host_reads);
      }
    }
    backend_of(kGpu).synchronize();
  }
}

TEST_CASE("train_mnist: the first 20 losses of simple agree between cpu and cuda") {
  fg::test::TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common_args(t.path) + " --val-every 50 --log-every 1 --max-steps 20";
  auto a = train(args + " --device cpu --out " + (t.path / "cpu").string());
  INFO(a.output);
  REQUIRE(a.code == 0);
  auto b = train(args + " --device cuda:0 --out " + (t.path / "gpu").string());
  INFO(b.output);
  REQUIRE(b.code == 0);
  auto la = fg::test::train_losses(t.path / "cpu" / "metrics.jsonl");
  auto lb = fg::test::train_losses(t.path / "gpu" / "metrics.jsonl");
  REQUIRE(la.size() == 20);
  REQUIRE(lb.size() == 20);
  for (size_t i = 0; i < la.size(); ++i) {
    INFO("step ", i + 1, ": cpu ", la[i], " cuda ", lb[i]);
    CHECK(std::abs(la[i] - lb[i]) <= 1e-3 * std::abs(la[i]));
  }

  // the GPU checkpoint, scored on both devices
  const fs::path ck = t.path / "gpu" / "last.safetensors";
  REQUIRE(fs::exists(ck));
  double bpd[2];
  int k = 0;
  for (const char* dev : {"cpu", "cuda:0"}) {
    fs::path out = t.path / (std::string("eval-") + (k == 0 ? "cpu" : "gpu"));
    auto r = train("--eval-only " + ck.string() + " --data " + t.path.string() + " --test-batches 2 --batch 16 " +
                   "--import-samples 2 --seed 5 --device " + dev + " --out " + out.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    bpd[k++] = nlohmann::json::parse(std::ifstream(out / "results.json"))["test_bpd"].get<double>();
  }
  MESSAGE("test bpd of the GPU checkpoint: cpu ", bpd[0], ", cuda ", bpd[1]);
  CHECK(std::abs(bpd[0] - bpd[1]) <= 1e-4);
}

TEST_CASE("train_mnist --resume on cuda continues the uninterrupted run's losses") {
  fg::test::TempDir t;
  fg::test::write_tiny_mnist(t.path);
  const std::string args = common_args(t.path) + " --val-every 4 --log-every 1 --device cuda:0";
  auto a = train(args + " --max-steps 12 --out " + (t.path / "a").string());
  REQUIRE(a.code == 0);
  REQUIRE(train(args + " --max-steps 7 --out " + (t.path / "b").string()).code == 0);
  auto b = train(args + " --max-steps 12 --resume --out " + (t.path / "b").string());
  INFO(b.output);
  REQUIRE(b.code == 0);
  auto la = fg::test::train_losses(t.path / "a" / "metrics.jsonl");
  auto lb = fg::test::train_losses(t.path / "b" / "metrics.jsonl");
  REQUIRE(la.size() == 12);
  REQUIRE(lb.size() == 12);
  // our kernels and the cuDNN algorithms chosen are deterministic: the resumed run is exact
  for (size_t i = 0; i < la.size(); ++i) CHECK(lb[i] == la[i]);
}

TEST_CASE("a bad device id and an out-of-memory request give one-line errors") {
  fg::test::TempDir t;
  fg::test::write_tiny_mnist(t.path);
  auto r = train(common_args(t.path) + " --max-steps 1 --device cuda:9 --out " + (t.path / "o").string());
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find("cuda:9") != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') <= 2);
  try {
    Tensor huge = Tensor::empty({int64_t{1} << 46}, DType::F32, kGpu);  // 256 TiB
    FAIL("allocated 256 TiB");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("out of memory") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
  // the device still works afterwards
  CHECK(sum(ones({1000}, DType::F32, kGpu)).item() == 1000.0);
}
