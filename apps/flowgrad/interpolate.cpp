// flowgrad interpolate: linear interpolations in latent space between pairs of random test images,
// one row per pair (the tutorial's `interpolate`). For multi-scale models the split-off variables
// are drawn afresh, as in the tutorial, so the rows' ends only approximate the two images.
#include <algorithm>
#include <memory>

#include "apps/common/cli.h"
#include "apps/flowgrad/common.h"
#include "flowgrad/tensor/ops.h"

namespace fg::app::cmd {

namespace {

struct InterpOptions {
  CommonOptions common;
  int scale = 3;  // pixels per image pixel in the PNG
  std::string checkpoint, data, out = "interp.png";
  int64_t pairs = 4;
  int steps = 8;
};

int run_interpolate(const InterpOptions& o) {
  Device dev = setup_runtime(o.common);
  flows::LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  flows::ImageFlow& flow = lm.flow("interpolate");
  nn::MnistData test = load_split(o.data, "test");
  std::vector<int64_t> idx = pick_indices(test.size(), 2 * o.pairs, o.common.seed);
  Progress prog("interpolate", o.pairs, std::max<int64_t>(1, o.pairs / 10));
  std::vector<Tensor> rows;
  for (int64_t p = 0; p < o.pairs; ++p) {
    int64_t ia = idx[2 * p], ib = idx[2 * p + 1];
    Tensor y;
    if (flow.num_classes() > 0) {  // class-conditional: b is the next test image of a's class
      const uint8_t* l = test.labels.data<uint8_t>();
      for (int64_t j = 1; j < test.size(); ++j)
        if (l[(ia + j) % test.size()] == l[ia]) {
          ib = (ia + j) % test.size();
          break;
        }
      y = flows::full_labels(1, l[ia]);
    }
    Tensor a = gather_images(test.images, {ia}), b = gather_images(test.images, {ib});
    rows.push_back(flow.interpolate(a, b, o.steps, y.defined() ? &y : nullptr).to(Device::cpu()));
    prog.update(p + 1, "");
  }
  prog.finish(fmt::format("{} pairs x {} steps ({})", o.pairs, o.steps, lm.config.name));
  ensure_parent_dir(o.out);
  nn::write_image_grid(o.out, concat(rows, 0), o.steps, o.scale);
  report_written(o.out);
  return 0;
}

}  // namespace

Command add_interpolate_command(CLI::App& root) {
  auto o = std::make_shared<InterpOptions>();
  CLI::App* sub =
      root.add_subcommand("interpolate", "latent interpolations between pairs of random test images, one row each");
  sub->add_option("--checkpoint", o->checkpoint, "model checkpoint (.safetensors)")->required();
  sub->add_option("--pairs", o->pairs, "image pairs (rows)")->check(CLI::Range(1, 1000))->capture_default_str();
  sub->add_option("--steps", o->steps, "images per row, both ends included")
      ->check(CLI::Range(2, 256))
      ->capture_default_str();
  sub->add_option("--data", o->data, "MNIST directory (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)");
  sub->add_option("--out", o->out, "output PNG")->capture_default_str();
  add_scale_option(sub, o->scale);
  add_common_options(sub, o->common);
  return {sub, [o] { return run_interpolate(*o); }};
}

}  // namespace fg::app::cmd
