// flowgrad sample: a PNG grid of samples drawn from a checkpoint at a given temperature.
#include <algorithm>
#include <memory>

#include "apps/common/cli.h"
#include "apps/flowgrad/common.h"
#include "flowgrad/tensor/ops.h"

namespace fg::app::cmd {

namespace {

struct SampleOptions {
  CommonOptions common;
  int scale = 3;  // pixels per image pixel in the PNG
  std::string checkpoint, out = "samples.png";
  int64_t n = 64, batch = 16;
  double temperature = 1.0;
  int nrow = 8;
  std::string solver = "dopri5";  // flow-matching checkpoints
  int64_t nfe = 0;                 // fixed-step solvers: function evaluations (0: 20 steps)
  double tol = 1e-5;
};

int run_sample(const SampleOptions& o) {
  Device dev = setup_runtime(o.common);
  flows::LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  Generator gen(o.common.seed);
  flows::SampleOptions so;
  so.temperature = o.temperature;
  so.generator = &gen;
  so.solver.method = flows::ode::parse_method(o.solver);
  so.solver.atol = so.solver.rtol = o.tol;
  // NFE of a fixed-step solver: steps x evaluations per step (euler 1, midpoint 2, rk4 4)
  const int64_t per_step = so.solver.method == flows::ode::Method::RK4 ? 4 : so.solver.method == flows::ode::Method::Midpoint ? 2 : 1;
  if (o.nfe > 0) {
    FG_CHECK(so.solver.method != flows::ode::Method::Dopri5, "--nfe sets a fixed-step solver's work; dopri5 adapts (use --tol)");
    FG_CHECK(o.nfe % per_step == 0, "--nfe {} is not a multiple of {}'s {} evaluations per step", o.nfe, o.solver, per_step);
    so.solver.steps = o.nfe / per_step;
  } else {
    so.solver.steps = 20;
  }
  int64_t nfe = 0, total_nfe = 0;
  so.nfe = &nfe;
  Progress prog("sample", o.n, std::max<int64_t>(1, o.n / 10));
  std::vector<Tensor> parts;
  for (int64_t done = 0; done < o.n;) {
    int64_t b = std::min(o.batch, o.n - done);
    parts.push_back(lm.model->generate(b, so).to(Device::cpu()));
    total_nfe += nfe;
    done += b;
    prog.update(done, "");
  }
  std::string how = lm.config.flow_matching()
                        ? fmt::format(", {} with {} function evaluations per batch", o.solver,
                                      total_nfe / ((o.n + o.batch - 1) / o.batch))
                        : "";
  prog.finish(fmt::format("{} images from {} ({}{})", o.n, o.checkpoint, lm.config.name, how));
  ensure_parent_dir(o.out);
  nn::write_image_grid(o.out, concat(parts, 0), o.nrow, o.scale);
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
  sub->add_option("--solver", o->solver, "flow matching: ODE solver (euler, midpoint, rk4, dopri5)")
      ->check(CLI::IsMember({"euler", "midpoint", "rk4", "dopri5"}))
      ->capture_default_str();
  sub->add_option("--nfe", o->nfe, "flow matching: function evaluations of a fixed-step solver (default: 20 steps)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--tol", o->tol, "flow matching: dopri5's atol and rtol")->check(CLI::Range(1e-12, 1.0))->capture_default_str();
  sub->add_option("--batch", o->batch, "images decoded at once")->check(CLI::Range(1, 4096))->capture_default_str();
  sub->add_option("--out", o->out, "output PNG")->capture_default_str();
  add_scale_option(sub, o->scale);
  add_common_options(sub, o->common);
  return {sub, [o] { return run_sample(*o); }};
}

}  // namespace fg::app::cmd
