// bench_models: what the PyTorch peer's `bench`, `eval` and `sample` measure
// (../shared/peer/torch_flows.py), for flowgrad's models, on any device, printing one JSON line
// with the same fields so the two compare in one run (tools/bench_vs_peer alternates them).
//   bench   a full training step (forward, backward, clip 1.0, Adam, the weights_changed() hook),
//           the loss read each step
//   eval    the bpd of a validation batch without gradients (after one training step)
//   sample  generating --batch images (after one training step)
// Each step is timed from a synchronized device to a synchronized device. Also reported: kernel
// launches and host reads per step, layout-copy MB, peak tensor memory, peak RSS.
//   bench_models --cmd bench --model multiscale --batch 128 --steps 15 --device cuda --threads 2
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/common/cli.h"
#include "apps/common/cli_parse.h"
#include "flowgrad/autograd/profiler.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/nn/optim.h"
#include "tensor/backend.h"
#include "flowgrad/tensor/counters.h"

using namespace fg;

namespace {

struct Options {
  std::string cmd = "bench", model = "simple", variant = "v2", data, device = "cpu";
  int64_t batch = 64, steps = 10, warmup = 3;
  int threads = 0;
  bool tf32 = false;
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

int run(const Options& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const Device dev = app::open_device(o.device);
  set_allow_tf32(o.tf32);
  manual_seed(0);
  nn::MnistData mnist = nn::load_mnist(nn::resolve_mnist_dir(o.data), "train");
  auto m = flows::build_image_model({o.model, flows::parse_arch(o.variant)});
  m->to(dev);
  nn::Adam opt(m->parameters(), 1e-3);
  int64_t next = 0;
  auto batch_of = [&](int64_t n) {
    Tensor imgs = slice(mnist.images, 0, next, next + n);
    next = (next + n) % (50000 - n);
    return imgs.to(dev);
  };
  auto train_step = [&] {
    opt.zero_grad();
    nn::StepResult r = nn::optimizer_step(m->loss(batch_of(o.batch)), opt, 1.0);
    m->weights_changed();  // as TrainLoop does: spectral normalization's power iteration
    return r.loss.item();
  };
  Backend& b = backend_of(dev);
  if (o.cmd != "bench") train_step();  // ActNorm's data init and non-zero last layers, as the peer
  if (o.cmd != "bench") m->eval();
  ag::GradModeGuard grad_mode(o.cmd == "bench");  // eval and sample record no graph
  std::function<double()> step;
  if (o.cmd == "bench") step = train_step;
  else if (o.cmd == "eval") step = [&] { return mean(m->test_bpd(batch_of(o.batch), 1)).item(); };
  else step = [&] {
    flows::SampleOptions so;
    m->generate(o.batch, so);
    return 0.0;
  };
  std::vector<double> times, values;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    if (s == o.warmup) {  // counters and FG_PROFILE's table cover the measured steps only
      counters_reset();
      ag::profile_reset();
    }
    b.synchronize();
    auto t0 = std::chrono::steady_clock::now();
    double v = step();
    b.synchronize();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= o.warmup) {
      times.push_back(ms);
      values.push_back(v);
      counters_step();
    }
  }
  Counters c = counters();
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double med = sorted[sorted.size() / 2];
  nlohmann::json j{{"cmd", o.cmd},
                   {"impl", "flowgrad"},
                   {"model", o.model},
                   {"variant", o.variant},
                   {o.cmd == "sample" ? "n_samples" : "batch", o.batch},
                   {"steps", o.steps},
                   {"warmup", o.warmup},
                   {"median_ms", med},
                   {"min_ms", sorted.front()},
                   {"max_ms", sorted.back()},
                   {o.cmd == "sample" ? "samples_per_s" : "images_per_s", 1000.0 * o.batch / med},
                   {"params", m->num_parameters()},
                   {"device", dev.str()},
                   {"backend", b.name()},
                   {"tf32", allow_tf32()},
                   {"threads", num_threads()},
                   {"launches_per_step", double(c.launches) / c.steps},
                   {"host_reads_per_step", double(c.host_reads) / c.steps},
                   {"layout_mb_per_step", c.layout_bytes / 1e6 / c.steps},
                   {"peak_tensor_mb", c.peak_bytes / 1e6},
                   {"peak_rss_mb", peak_rss_mb()},
                   {"times_ms", times}};
  if (!dev.is_cpu()) j["peak_gpu_mem_mb"] = b.peak_memory_bytes() / double(1 << 20);  // as the peer's, in MiB
  if (o.cmd == "bench") {
    j["loss_first"] = values.front();
    j["loss_last"] = values.back();
  } else if (o.cmd == "eval") {
    double s = 0;
    for (double v : values) s += v;
    j["metric_mean"] = s / values.size();
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"bench_models: time a training step, an evaluation batch or sampling of one model (JSON line)"};
  app.add_option("--cmd", o.cmd, "bench, eval or sample")->check(CLI::IsMember({"bench", "eval", "sample"}))->capture_default_str();
  app.add_option("--model", o.model, "a model of flows::model_names()")->capture_default_str();
  app.add_option("--variant,--arch", o.variant, "v1 or v2 (the tutorial's GatedConv variants)")->capture_default_str();
  app.add_option("--batch", o.batch, "batch (bench, eval) or images to generate (sample)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--steps", o.steps, "measured steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured steps first")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (0: OMP_NUM_THREADS or all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--data", o.data, "MNIST directory (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)");
  app::add_device_option(app, o.device);
  app.add_flag("--tf32", o.tf32, "allow TF32 tensor-core math for f32 convs and matmuls on a GPU");
  int code = 0;
  if (!app::parse_cli(app, argc, argv, "bench_models", code)) return code;
  return app::run_main("bench_models", [&] { return run(o); });
}
