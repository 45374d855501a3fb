// flowgrad latents: what the multi-scale model stores at each level (the tutorial's "latents in
// different levels"): each row shares one final latent z and draws the split-off variables afresh
// for every image.
#include <algorithm>
#include <memory>

#include "apps/common/cli.h"
#include "apps/flowgrad/common.h"
#include "flowgrad/tensor/ops.h"

namespace fg::app::cmd {

namespace {

struct LatentsOptions {
  CommonOptions common;
  int scale = 3;  // pixels per image pixel in the PNG
  std::string checkpoint, out = "latents.png";
  int64_t n = 4, variations = 8;
  double temperature = 1.0;
};

int run_latents(const LatentsOptions& o) {
  Device dev = setup_runtime(o.common);
  flows::LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  flows::ImageFlow& model = lm.flow("latents");
  FG_CHECK(model.num_splits() > 0,
           "model '{}' in {} has no SplitFlow: latents needs a multi-scale model (e.g. --model multiscale)",
           lm.config.name, o.checkpoint);
  Generator gen(o.common.seed);
  Shape one = model.latent_shape(1), many = model.latent_shape(o.variations);
  Progress prog("latents", o.n, std::max<int64_t>(1, o.n / 10));
  std::vector<Tensor> rows;
  for (int64_t r = 0; r < o.n; ++r) {
    flows::SampleOptions so;
    so.temperature = o.temperature;
    so.generator = &gen;
    if (model.num_classes() > 0) {  // class-conditional: row r is class r % K
      Tensor y1 = flows::full_labels(1, r % model.num_classes()), y = flows::full_labels(o.variations, r % model.num_classes());
      Tensor z = model.prior() ? model.prior()->sample(flows::one_hot(y1, model.num_classes(), model.dtype(), dev),
                                                       o.temperature, &gen)
                               : normal(one, 0.0, o.temperature, model.dtype(), dev, &gen);
      rows.push_back(model.decode(broadcast_to(z, many).contiguous(), so, nullptr, &y).to(Device::cpu()));
    } else {
      Tensor z = normal(one, 0.0, o.temperature, model.dtype(), dev, &gen);
      rows.push_back(model.decode(broadcast_to(z, many), so).to(Device::cpu()));
    }
    prog.update(r + 1, "");
  }
  prog.finish(fmt::format("{} final latents {} x {} variations", o.n, shape_str(one), o.variations));
  ensure_parent_dir(o.out);
  nn::write_image_grid(o.out, concat(rows, 0), static_cast<int>(o.variations), o.scale);
  report_written(o.out);
  return 0;
}

}  // namespace

Command add_latents_command(CLI::App& root) {
  auto o = std::make_shared<LatentsOptions>();
  CLI::App* sub = root.add_subcommand(
      "latents", "multi-scale models: rows of samples sharing the final latent, split variables redrawn");
  sub->add_option("--checkpoint", o->checkpoint, "multi-scale model checkpoint (.safetensors)")->required();
  sub->add_option("--n", o->n, "rows (final latents)")->check(CLI::Range(1, 1000))->capture_default_str();
  sub->add_option("--variations", o->variations, "images per row (split-variable draws)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("--temperature", o->temperature, "prior standard deviation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--out", o->out, "output PNG")->capture_default_str();
  add_scale_option(sub, o->scale);
  add_common_options(sub, o->common);
  return {sub, [o] { return run_latents(*o); }};
}

}  // namespace fg::app::cmd
