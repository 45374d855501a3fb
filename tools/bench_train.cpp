// bench_train: median time of a full training step (forward bpd, backward, clip, Adam) of one of
// the tutorial's models on real MNIST batches; prints one JSON line with the same fields as the
// PyTorch peer's `bench` (../shared/peer/torch_flows.py) so the two compare in one run.
//   bench_train --model simple --arch v2 --batch 64 --steps 6 --warmup 2 --threads 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "flows/models.h"
#include "nn/mnist.h"
#include "nn/optim.h"
#include "tensor/counters.h"

using namespace fg;

int main(int argc, char** argv) {
  std::string model = "simple", arch = "v2", data;
  int64_t batch = 64, steps = 6, warmup = 2;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--arch" || k == "--variant") arch = v;
    else if (k == "--batch") batch = std::stol(v);
    else if (k == "--steps") steps = std::stol(v);
    else if (k == "--warmup") warmup = std::stol(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--data") data = v;
    else {
      std::fprintf(stderr, "bench_train: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (threads > 0) set_num_threads(threads);
    manual_seed(0);
    nn::MnistData mnist = nn::load_mnist(nn::resolve_mnist_dir(data), "train");
    auto m = flows::build_model({model, flows::parse_arch(arch)});
    nn::Adam opt(m->parameters(), 1e-3);
    std::vector<double> times;
    double first = 0, last = 0;
    for (int64_t s = 0; s < warmup + steps; ++s) {
      Tensor imgs = slice(mnist.images, 0, (s * batch) % 50000, (s * batch) % 50000 + batch);
      if (s == warmup) counters_reset();
      auto t0 = std::chrono::steady_clock::now();
      opt.zero_grad();
      nn::StepResult r = nn::optimizer_step(m->bpd(imgs), opt, 1.0);
      backend_of(Device::cpu()).synchronize();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      // the loss is read (a host read) only at the first and last step, as a training loop would rate-limit it
      if (s == 0) first = r.loss.item();
      if (s == warmup + steps - 1) last = r.loss.item();
      if (s >= warmup) {
        times.push_back(ms);
        counters_step();
      }
    }
    Counters c = counters();
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    double med = sorted[sorted.size() / 2];
    std::printf("{\"cmd\": \"bench\", \"impl\": \"flowgrad\", \"model\": \"%s\", \"variant\": \"%s\", \"batch\": %ld, "
                "\"steps\": %ld, \"median_ms\": %.3f, \"min_ms\": %.3f, \"images_per_s\": %.2f, \"params\": %ld, "
                "\"loss_first\": %.4f, \"loss_last\": %.4f, \"threads\": %d, \"launches_per_step\": %.0f, "
                "\"host_reads_per_step\": %.1f, \"layout_mb_per_step\": %.1f, \"peak_tensor_mb\": %.1f}\n",
                model.c_str(), arch.c_str(), static_cast<long>(batch), static_cast<long>(steps), med, sorted[0],
                1000.0 * batch / med, static_cast<long>(m->num_parameters()), first, last, num_threads(),
                double(c.launches) / c.steps, double(c.host_reads) / c.steps, c.layout_bytes / 1e6 / c.steps,
                c.peak_bytes / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
