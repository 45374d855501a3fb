// flowgrad sample: a PNG grid of samples drawn from a checkpoint at a given temperature.
#include <algorithm>
#include <memory>

#include "apps/common/cli.h"
#include "apps/flowgrad/common.h"
#include "tensor/ops.h"

namespace fg::app::cmd {

namespace {

struct SampleOptions {
  CommonOptions common;
  int scale = 3;  // pixels per image pixel in the PNG
  std::string checkpoint, out = "samples.png";
  int64_t n = 64, batch = 16;
  double temperature = 1.0;
  int nrow = 8;
};

int run_sample(const SampleOptions& o) {
  Device dev = setup_runtime(o.common);
  LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  Generator gen(o.common.seed);
  Progress prog("sample", o.n, std::max<int64_t>(1, o.n / 10));
  std::vector<Tensor> parts;
  for (int64_t done = 0; done < o.n;) {
    int64_t b = std::min(o.batch, o.n - done);
    parts.push_back(lm.model->sample(b, o.temperature, nullptr, &gen).to(Device::cpu()));
    done += b;
    prog.update(done, "");
  }
  prog.finish(fmt::format("{} images from {} ({})", o.n, o.checkpoint, lm.config.name));
  ensure_parent_dir(o.out);
  write_image_grid(o.out, concat(parts, 0), o.nrow, o.scale);
  report_written(o.out);
  return 0;
}

}  // namespace

Command add_sample_command(CLI::App& root) {
  auto o = std::make_shared<SampleOptions>();
  CLI::App* sub = root.add_subcommand("sample", "a PNG grid of samples from a checkpoint");
  sub->add_option("--checkpoint", o->checkpoint, "model checkpoint (.safetensors)")->required();
  sub->add_option("--n", o->n, "number of samples")->check(CLI::Range(1, 4096))->capture_default_str();
  sub->add_option("--temperature", o->temperature, "prior standard deviation (also for split variables)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--nrow", o->nrow, "images per grid row")->check(CLI::Range(1, 1024))->capture_default_str();
  sub->add_option("--batch", o->batch, "images decoded at once")->check(CLI::Range(1, 4096))->capture_default_str();
  sub->add_option("--out", o->out, "output PNG")->capture_default_str();
  add_scale_option(sub, o->scale);
  add_common_options(sub, o->common);
  return {sub, [o] { return run_sample(*o); }};
}

}  // namespace fg::app::cmd
