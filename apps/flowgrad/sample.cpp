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
  double guidance = 1.0;  // --guidance: classifier-free guidance scale (conditional flow matching)
  int64_t label = -1;  // --class: every sample of this class (class-conditional checkpoints)
  bool n_given = false;
};

int run_sample(const SampleOptions& o) {
  Device dev = setup_runtime(o.common);
  flows::LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  const int64_t classes = lm.model->num_classes();
  FG_CHECK(o.label < 0 || classes > 0,
           "--class {}: {} holds an unconditional {} model (trained without --conditional); it cannot sample a class",
           o.label, o.checkpoint, lm.config.name);
  FG_CHECK(o.label < classes, "--class {}: {} has classes 0..{}", o.label, o.checkpoint, classes - 1);
  // a conditional model without --class draws a class grid: row r holds class r (K rows by default)
  const int64_t n = classes > 0 && o.label < 0 && !o.n_given ? classes * o.nrow : o.n;
  Generator gen(o.common.seed);
  flows::SampleOptions so;
  so.temperature = o.temperature;
  so.generator = &gen;
  so.guidance = o.guidance;
  FG_CHECK(o.guidance == 1.0 || (classes > 0 && lm.config.flow_matching()),
           "--guidance {}: classifier-free guidance needs a class-conditional flow-matching checkpoint; {} holds {}",
           o.guidance, o.checkpoint, lm.config.name);
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
  Progress prog("sample", n, std::max<int64_t>(1, n / 10));
  std::vector<Tensor> parts;
  for (int64_t done = 0; done < n;) {
    int64_t b = std::min(o.batch, n - done);
    if (classes > 0) {
      std::vector<int32_t> y(static_cast<size_t>(b));
      for (int64_t i = 0; i < b; ++i)
        y[static_cast<size_t>(i)] = static_cast<int32_t>(o.label >= 0 ? o.label : ((done + i) / o.nrow) % classes);
      Tensor labels = from_vector(y, {b});
      parts.push_back(lm.model->cond_generate(b, so, &labels).to(Device::cpu()));
    } else {
      parts.push_back(lm.model->generate(b, so).to(Device::cpu()));
    }
    total_nfe += nfe;
    done += b;
    prog.update(done, "");
  }
  std::string how = lm.config.flow_matching()
                        ? fmt::format(", {} with {} function evaluations per batch", o.solver,
                                      total_nfe / ((n + o.batch - 1) / o.batch))
                        : "";
  const std::string what = classes == 0 ? "" : o.label >= 0 ? fmt::format(", class {}", o.label) : ", a row per class";
  prog.finish(fmt::format("{} images from {} ({}{}{})", n, o.checkpoint, lm.config.name, what, how));
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
  sub->add_option("--n", o->n, "number of samples (class-conditional default: one row of --nrow per class)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str()
      ->each([o](const std::string&) { o->n_given = true; });
  sub->add_option("--guidance", o->guidance,
                  "class-conditional fm/ot-cfm: classifier-free guidance w, v = v_null + w (v_y - v_null) (1: none)")
      ->capture_default_str();
  sub->add_option("--class", o->label, "class-conditional checkpoints: draw every sample of this class "
                                       "(default: a class grid, one row per class)")
      ->check(CLI::NonNegativeNumber);
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
