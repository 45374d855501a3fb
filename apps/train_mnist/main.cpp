// train_mnist: trains one of the tutorial's flows on MNIST and evaluates it (see --help).
#include <cstdio>

#include "apps/common/cli.h"
#include "apps/common/model_io.h"
#include "apps/train_mnist/evaluate.h"
#include "apps/train_mnist/trainer.h"

using namespace fg;
using namespace fg::app;

namespace {

int evaluate_checkpoint(const TrainOptions& o, const std::string& ckpt, const std::string& results_path) {
  LoadedModel lm = load_model(ckpt, Device::parse(o.device));
  nn::MnistData test = nn::load_mnist(nn::resolve_mnist_dir(o.data), "test");
  EvalResult r;
  r.model = lm.config.name;
  r.params = lm.model->num_parameters();
  r.import_samples = o.model.import_samples;
  auto it = lm.checkpoint.meta.find("val_bpd");
  if (it != lm.checkpoint.meta.end()) r.val_bpd = std::strtod(it->second.c_str(), nullptr);
  manual_seed(o.seed);
  r.test_bpd = mean_bpd(*lm.model, test, o.batch, o.test_batches, o.model.import_samples, "test");
  int64_t nb = (test.size() + o.batch - 1) / o.batch;
  r.test_images = o.test_batches > 0 ? std::min(test.size(), o.test_batches * o.batch) : test.size();
  (void)nb;
  time_model(*lm.model, test, r);
  print_results_table(r);
  save_results_json(results_path, r);
  std::fprintf(stderr, "wrote %s\n", results_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  TrainOptions o;
  int code = 0;
  try {
    if (!parse_train_options(argc, argv, o, code)) return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mnist: %s (see --help)\n", e.what());
    return 2;
  }
  return run_main("train_mnist", [&] {
    if (o.threads > 0) set_num_threads(o.threads);
    std::string why;
    Device dev = Device::parse(o.device);
    FG_CHECK(device_available(dev, &why), "--device {}: {}", o.device, why);
    if (!o.eval_only.empty()) return evaluate_checkpoint(o, o.eval_only, o.out + "/results.json");
    std::string dir = nn::resolve_mnist_dir(o.data);
    nn::MnistData all = nn::load_mnist(dir, "train");
    auto [train_set, val_set] = nn::split_train_val(all, o.train_size, 42);
    TrainOutcome t = train(o, train_set, val_set);
    if (t.exit_code != 0 || !o.test || t.best_checkpoint.empty()) return t.exit_code;
    return evaluate_checkpoint(o, t.best_checkpoint, o.out + "/results.json");
  });
}
