// train_aeflow: the seed's MNIST autoencoder-flow (flowgrad/flows/aeflow.h), trained with MSE.
//   --variant stable (default): bounded couplings, logs = tanh(s / e^f) e^f, and the loss
//     MSE + 0.01 |z|^2 / (2 * 128) (the latent NLL's Gaussian part)
//   --variant literal: the seed's unbounded exp(logs), MSE only (6 of 10 seeds become NaN at step
//     6-7; why: README.md)
// Each step is instrumented (MSE, flow NLL, ldj stats, max |logs|, latent norms, gradient norm);
// the first non-finite value stops the run with exit 1 and a report, without writing a
// checkpoint. The steps run in the shared training loop (flowgrad/train/train_loop.h). Outputs in
// --out: metrics.jsonl (losses), diagnostics.jsonl (per-step diagnostics), inputs_epochE.png /
// recon_epochE.png (the first 64 validation images and their reconstructions, as the seed's
// evaluate_autoencoder), samples.png, curve.png, diagnostics.png, last/best.safetensors, results.json.
// --bench N times N training steps (after 3 warm-up steps) and prints one JSON line instead.
#include "apps/common/cli_parse.h"
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "flowgrad/dist/session.h"
#include "flowgrad/train/plot.h"
#include "flowgrad/train/train_loop.h"
#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/flows/aeflow.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/nn/data_loader.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/nn/optim.h"

using namespace fg;
using namespace fg::app;
using json = nlohmann::json;
using ag::Var;

namespace {

struct Options {
  std::string variant = "stable";
  int64_t epochs = 1, batch = 128, max_steps = 0, bench = 0, train_size = 50000;
  int64_t val_every = 50, val_subset = 2000;  // interim validation on the first val_subset images
  double lr = 1e-3, nll_weight = -1, clip = 1.0, ema = 0;  // nll_weight < 0: the variant's default
  uint64_t seed = 0;
  std::string data, out = "runs/aeflow", nll_mode = "prior", device = "cpu";
  int threads = 0;
  DistCli dist;
};

// Under mpirun rank 0 alone writes files and reports (the per-step diagnostics are rank 0's rows).
bool lead() { return dist::world().rank() == 0; }

// Per-step diagnostics; every field must be finite for the step to count.
struct StepStats {
  int64_t step = 0, epoch = 0;
  double loss = 0, mse = 0, nll = 0, ldj_mean = 0, ldj_min = 0, ldj_max = 0, max_abs_logs = 0;
  double h_norm = 0, z_norm_mean = 0, z_norm_max = 0, z_absmax = 0, grad_norm = 0, ms = 0;
  std::vector<double> layer_logs;  // max |logs| of each coupling, in flow order
  json to_json() const {
    return {{"step", step},         {"epoch", epoch},       {"loss", loss},
            {"mse", mse},           {"nll", nll},           {"ldj_mean", ldj_mean},
            {"ldj_min", ldj_min},   {"ldj_max", ldj_max},   {"max_abs_logs", max_abs_logs},
            {"h_norm", h_norm},     {"z_norm_mean", z_norm_mean}, {"z_norm_max", z_norm_max},
            {"z_absmax", z_absmax}, {"grad_norm", grad_norm}, {"ms", ms},
            {"layer_max_abs_logs", layer_logs}};
  }
  // the names of the non-finite fields ("" when all are finite)
  std::string nonfinite() const {
    std::string bad;
    auto chk = [&](const char* n, double v) {
      if (!std::isfinite(v)) bad += fmt::format("{}{}={}", bad.empty() ? "" : ", ", n, v);
    };
    chk("loss", loss), chk("mse", mse), chk("nll", nll), chk("ldj_mean", ldj_mean), chk("ldj_min", ldj_min);
    chk("ldj_max", ldj_max), chk("max_abs_logs", max_abs_logs), chk("h_norm", h_norm);
    chk("z_norm_max", z_norm_max), chk("z_absmax", z_absmax), chk("grad_norm", grad_norm);
    return bad;
  }
  std::string line() const {
    std::string per;
    for (double v : layer_logs) per += fmt::format("{}{:.3g}", per.empty() ? "" : " ", v);
    return fmt::format("step {:4} mse {:.5f} nll {:10.4g} ldj mean {:10.4g} [{:.3g}, {:.3g}] max|logs| {:9.4g} "
                       "(per coupling: {}) |h| {:8.4g} |z| mean {:9.4g} max {:9.4g} max|z_i| {:9.4g} grad {:9.4g}",
                       step, mse, nll, ldj_mean, ldj_min, ldj_max, max_abs_logs, per, h_norm, z_norm_mean, z_norm_max,
                       z_absmax, grad_norm);
  }
};

double as_double(const Var& v) { return v.value().item(); }

StepStats stats_of(const flows::AEFlow::Pass& p, flows::AEFlow& m) {
  StepStats s;
  s.loss = as_double(p.loss);
  s.mse = as_double(p.mse);
  s.nll = as_double(p.nll);
  const Tensor& ldj = p.ldj.value();
  s.ldj_mean = mean(ldj).item();
  s.ldj_min = amin(ldj).item();
  s.ldj_max = amax(ldj).item();
  s.max_abs_logs = m.last_max_abs_logs();
  for (auto& c : m.couplings) s.layer_logs.push_back(c->last_max_abs_logs());
  s.h_norm = mean(sqrt(sum(square(p.h.value()), {1}))).item();
  Tensor zn = sqrt(sum(square(p.z.value()), {1}));
  s.z_norm_mean = mean(zn).item();
  s.z_norm_max = amax(zn).item();
  s.z_absmax = amax(abs(p.z.value())).item();
  // amax may skip NaNs: make any NaN in the latent visible
  if (!std::isfinite(sum(p.z.value()).item())) s.z_absmax = NAN;
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean_mse(flows::AEFlow& m, const Tensor& imgs, int64_t batch = 500) {
  ag::NoGradGuard ng;
  double tot = 0;
  int64_t n = imgs.size(0);
  for (int64_t i = 0; i < n; i += batch) {
    int64_t e = std::min(n, i + batch);
    Tensor x = slice(imgs, 0, i, e);
    Tensor r = m.reconstruct(x);
    tot += mean(square(r - m.to_unit(x))).item() * static_cast<double>(e - i);
  }
  return tot / static_cast<double>(n);
}

struct InvCheck {
  double max_err, max_abs_h, ldj_roundtrip;
};

// max |f^-1(f(h)) - h| over a batch, and max |ldj_forward + ldj_reverse|
InvCheck invertibility(flows::AEFlow& m, const Tensor& imgs) {
  ag::NoGradGuard ng;
  Var h = m.encode(imgs);
  Var z = h, ldj(zeros({h.size(0)}, h.dtype()));
  m.flow_forward(z, ldj);
  Var ldj2(zeros({h.size(0)}, h.dtype()));
  m.flow_reverse(z, ldj2);
  return {max_abs_diff(z.value(), h.value()), amax(abs(h.value())).item(),
          amax(abs(ldj.value() + ldj2.value())).item()};
}

bool parse(int argc, char** argv, Options& o, int& code) {
  CLI::App app{"train_aeflow: the seed's MNIST autoencoder-flow (conv encoder -> 128-d latent -> 4 x [linear affine "
               "coupling, flip] -> transposed-conv decoder), trained with MSE.\nOutputs in --out: metrics.jsonl, "
               "inputs_epochE.png, recon_epochE.png, samples.png, curve.png, diagnostics.png, aeflow.safetensors, "
               "results.json."};
  app.set_help_flag("-h,--help", "print this help and exit");
  app.add_option("--variant", o.variant,
                 "stable: bounded couplings logs = tanh(s/e^f) e^f; literal: the seed's unbounded exp(logs)")
      ->check(CLI::IsMember({"stable", "literal"}))
      ->capture_default_str();
  app.add_option("--epochs", o.epochs, "training epochs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", o.batch, "batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", o.lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--ema", o.ema, "EMA decay of the weights used for evaluation and sampling (0: off)")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str();
  app.add_option("--clip", o.clip, "clip gradients to this global norm (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--nll-weight", o.nll_weight,
                 fmt::format("add W x the --nll-mode term to the MSE (default: {} for stable, 0 for literal)",
                             flows::kStableNllWeight))
      ->check(CLI::NonNegativeNumber);
  app.add_option("--nll-mode", o.nll_mode,
                 "the weighted term: prior: the NLL's Gaussian part |z|^2/(2*128) only (no log-det); joint: the whole "
                 "latent NLL through encoder and flow (the peer's --nll-weight); detach: the whole NLL of "
                 "flow(h.detach())")
      ->check(CLI::IsMember({"joint", "detach", "prior"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed for initialization and shuffling")->capture_default_str();
  app.add_option("--max-steps", o.max_steps, "stop after this many optimizer steps (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--data", o.data, "MNIST directory (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)");
  app.add_option("--out", o.out, "output directory")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  add_device_option(app, o.device);
  app.add_option("--train-size", o.train_size, "training images; the rest of the 60,000 validate")
      ->check(CLI::Range(1, 59999))
      ->capture_default_str();
  app.add_option("--val-every", o.val_every, "steps between validations on the first --val-subset images (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--val-subset", o.val_subset, "validation images for the interim validations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--bench", o.bench, "only time N training steps (after 3 warm-up steps), print JSON, exit")
      ->check(CLI::NonNegativeNumber);
  add_dist_options(app, o.dist);
  if (!parse_cli(app, argc, argv, "train_aeflow", code)) return false;
  return true;
}

// The autoencoder-flow as a task of the shared training loop: each step's diagnostics are read
// back (this program's purpose is to watch the literal model diverge), and the first non-finite
// value stops the run with a report and without writing a checkpoint.
class AEFlowTask : public Task {
 public:
  AEFlowTask(const Options& o, const nn::MnistData& train, const nn::MnistData& val)
      : o_(o), val_(val), loader_(train.images, Tensor(), o.batch, true, true, o.seed) {
    FG_CHECK(loader_.num_batches() > 0, "--batch {} is larger than the {} training images", o.batch, train.size());
    loader_.set_shard(dist::world().rank(), dist::world().size());  // this rank's rows of each batch
    manual_seed(o.seed);
    flows::AEFlowConfig cfg = flows::aeflow_config(o.variant, o.nll_weight);
    cfg.nll_mode = o.nll_mode;
    model_ = std::make_shared<flows::AEFlow>(cfg);
    model_->set_record_stats(true);
    model_->to(Device::parse(o.device));  // batches move to the model's device in AEFlow::run
  }
  nn::Module& model() override { return *model_; }
  flows::AEFlow& aeflow() { return *model_; }
  std::string config_json() const override { return flows::aeflow_config_to_json(model_->config()); }
  int64_t batches_per_epoch() const override { return loader_.num_batches(); }
  int64_t global_batch() const override { return o_.batch; }
  void start_epoch(int64_t epoch, int64_t batch) override { loader_.set_epoch(epoch, batch); }
  Var loss(int64_t epoch, int64_t batch, int64_t step) override {
    nn::Batch b;
    FG_CHECK(loader_.next(b), "train_aeflow: the data loader ran out of batches");
    t0_ = std::chrono::steady_clock::now();
    pass_ = model_->run(b.images);
    cur_ = {epoch, batch, step};
    return pass_.loss;
  }
  std::string after_step(int64_t step, int64_t epoch, const nn::StepResult& r) override {
    StepStats s = stats_of(pass_, *model_);
    s.step = step;
    s.epoch = epoch;
    s.grad_norm = r.grad_norm.item();
    s.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
    hist.push_back(s);
    log_line(s.to_json());
    ema = std::isnan(ema) ? s.mse : 0.95 * ema + 0.05 * s.mse;
    std::string bad = s.nonfinite();
    if (bad.empty()) return {};
    std::string report = fmt::format("first non-finite value at step {} (epoch {}, batch {}): {}\nthe steps before it:\n",
                                     step, epoch, cur_.batch, bad);
    size_t from = hist.size() > 12 ? hist.size() - 12 : 0;
    for (size_t i = from; i < hist.size(); ++i) report += "  " + hist[i].line() + "\n";
    std::fputs(("\n" + report).c_str(), stderr);
    log_line({{"step", step}, {"epoch", epoch}, {"first_nonfinite_step", step}, {"nonfinite", bad}});
    plots();
    json res{{"variant", o_.variant}, {"nll_weight", model_->config().nll_weight}, {"nll_mode", model_->config().nll_mode},
             {"params", model_->num_parameters()}, {"first_nonfinite_step", step}, {"nonfinite", bad},
             {"steps_done", step}};
    if (lead()) nn::atomic_write_file(o_.out + "/results.json", res.dump(1) + "\n");
    return fmt::format("non-finite value at step {} ({}); stopped without writing a checkpoint (see {}/diagnostics.jsonl "
                       "and {}/diagnostics.png)", step, bad, o_.out, o_.out);
  }
  Evaluation validate(int64_t step, int64_t) override {
    double v = mean_mse(*model_, slice(val_.images, 0, 0, std::min(o_.val_subset, val_.size())));
    sub_curve.emplace_back(static_cast<double>(step), v);
    return {{{"val_subset_mse", v}}, v, ""};
  }
  void end_epoch(int64_t epoch) override {
    double v = mean_mse(*model_, val_.images);
    val_curve.emplace_back(static_cast<double>(hist.empty() ? 0 : hist.back().step + 1), v);
    log_line({{"step", hist.empty() ? 0 : hist.back().step + 1}, {"epoch", epoch}, {"val_mse", v}});
    if (!lead()) return;
    Tensor x = slice(val_.images, 0, 0, std::min<int64_t>(64, val_.size()));
    nn::write_png_grid(fmt::format("{}/inputs_epoch{}.png", o_.out, epoch + 1), model_->to_unit(x), 8);
    nn::write_png_grid(fmt::format("{}/recon_epoch{}.png", o_.out, epoch + 1), model_->reconstruct(x), 8);
    std::fprintf(stderr, "\nepoch %ld: validation MSE %.5f (%ld images); wrote %s/inputs_epoch%ld.png, recon_epoch%ld.png\n",
                 static_cast<long>(epoch + 1), v, static_cast<long>(val_.size()), o_.out.c_str(),
                 static_cast<long>(epoch + 1), static_cast<long>(epoch + 1));
  }
  void plots();
  // diagnostics go to their own file: the loop's metrics.jsonl carries the losses
  void log_line(const json& j) {
    if (!lead()) return;
    if (!diag_) diag_ = std::make_unique<std::ofstream>(o_.out + "/diagnostics.jsonl", std::ios::trunc);
    *diag_ << j.dump() << '\n';
    diag_->flush();
  }

  std::vector<StepStats> hist;
  std::vector<std::pair<double, double>> val_curve;  // (step, val mse), whole validation set
  std::vector<std::pair<double, double>> sub_curve;  // (step, val mse), first val_subset images
  double ema = NAN;

 private:
  struct Cur {
    int64_t epoch = 0, batch = 0, step = 0;
  };
  const Options& o_;
  const nn::MnistData& val_;
  nn::DataLoader loader_;
  std::shared_ptr<flows::AEFlow> model_;
  flows::AEFlow::Pass pass_;
  Cur cur_;
  std::chrono::steady_clock::time_point t0_;
  std::unique_ptr<std::ofstream> diag_;
};

void AEFlowTask::plots() {
  if (!lead()) return;
  Series mse{"train MSE (batch)", {}, {}}, val{"validation MSE (all images)", {}, {}, "points pt 7 ps 1.5"};
  Series logs{"max |logs|", {}, {}}, zmax{"max |z| (L2, over the batch)", {}, {}}, hn{"mean |h| (L2)", {}, {}},
      gn{"gradient norm (before clipping)", {}, {}}, ldj{"max |ldj|", {}, {}};
  for (const auto& s : hist) {
    double x = static_cast<double>(s.step);
    if (std::isfinite(s.mse)) mse.x.push_back(x), mse.y.push_back(s.mse);
    auto add = [&](Series& se, double v) {
      if (std::isfinite(v) && v > 0) se.x.push_back(x), se.y.push_back(v);
    };
    add(logs, s.max_abs_logs), add(zmax, s.z_norm_max), add(hn, s.h_norm), add(gn, s.grad_norm);
    add(ldj, std::max(std::abs(s.ldj_min), std::abs(s.ldj_max)));
  }
  for (auto& [x, y] : val_curve) val.x.push_back(x), val.y.push_back(y);
  Series sub{fmt::format("validation MSE (first {} images)", o_.val_subset), {}, {}, "linespoints"};
  for (auto& [x, y] : sub_curve) sub.x.push_back(x), sub.y.push_back(y);
  double w = model_->config().nll_weight;
  std::string title = fmt::format("aeflow ({}{}) on MNIST, batch {}, Adam {}", o_.variant,
                                  w > 0 ? fmt::format(", {} weight {}", model_->config().nll_mode, w) : "",
                                  o_.batch, o_.lr);
  try {
    if (!mse.x.empty()) plot_png(o_.out + "/curve.png", {mse, sub, val}, {title, "step", "reconstruction MSE", false, 900, 500, ""});
    plot_png(o_.out + "/diagnostics.png", {logs, zmax, hn, gn, ldj}, {title, "step", "value (log scale)", true, 900, 500, ""});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: plotting failed: %s\n", e.what());
  }
}

int bench(const Options& o, const nn::MnistData& train, const nn::MnistData& val) {
  AEFlowTask task(o, train, val);
  nn::Adam opt(task.model().parameters(), o.lr);
  task.start_epoch(0, 0);
  std::vector<double> ms;
  int64_t warm = 3, nonfinite = 0;
  double first = NAN, last = NAN;
  for (int64_t i = 0; i < warm + o.bench; ++i) {
    if (i > 0 && i % task.batches_per_epoch() == 0) task.start_epoch(i / task.batches_per_epoch(), 0);
    opt.zero_grad();
    auto t0 = std::chrono::steady_clock::now();
    nn::StepResult r = nn::optimizer_step(task.loss(0, i, i), opt, o.clip);
    double l = r.loss.item();  // one read a step (the timing includes it)
    double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (r.bad.item() != 0) ++nonfinite;
    if (i >= warm) {
      ms.push_back(t);
      if (std::isnan(first)) first = l;
      last = l;
    }
  }
  double med = median(ms);
  json j{{"cmd", "bench"},      {"model", "aeflow"},        {"variant", o.variant},
         {"batch", o.batch},    {"steps", o.bench},         {"warmup", warm},
         {"median_ms", med},    {"min_ms", *std::min_element(ms.begin(), ms.end())},
         {"max_ms", *std::max_element(ms.begin(), ms.end())},
         {"images_per_s", o.batch / (med / 1000.0)},       {"params", task.model().num_parameters()},
         {"threads", num_threads()}, {"loss_first", first}, {"loss_last", last},
         {"nonfinite_steps", nonfinite}, {"times_ms", ms}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int run(const Options& o, const nn::MnistData& train, const nn::MnistData& val, const nn::MnistData& test) {
  if (lead()) std::filesystem::create_directories(o.out);
  AEFlowTask task(o, train, val);
  flows::AEFlow& model = task.aeflow();
  nn::Adam opt(model.parameters(), o.lr);
  double w = model.config().nll_weight;
  const std::string& mode = model.config().nll_mode;
  std::string extra = w <= 0             ? ", MSE only"
                      : mode == "prior" ? fmt::format(", + {} x |z|^2/(2*{}) (the NLL's prior term)", w,
                                                      model.config().latent)
                                        : fmt::format(", + {} x latent NLL ({})", w, mode);
  if (lead())
    std::fprintf(stderr, "aeflow (%s%s): %ld parameters; %ld training / %ld validation images; Adam %g, clip %g\n",
               o.variant.c_str(), extra.c_str(), static_cast<long>(model.num_parameters()),
               static_cast<long>(train.size()), static_cast<long>(val.size()), o.lr, o.clip);
  task.log_line({{"config", json::parse(flows::aeflow_config_to_json(model.config()))},
                 {"params", model.num_parameters()}, {"lr", o.lr}, {"clip", o.clip}, {"batch", o.batch},
                 {"seed", o.seed}});
  {
    double v0 = mean_mse(model, val.images);
    task.val_curve.emplace_back(0.0, v0);
    task.log_line({{"step", 0}, {"epoch", 0}, {"val_mse", v0}});
    if (lead()) std::fprintf(stderr, "untrained: validation MSE %.5f\n", v0);
  }
  LoopOptions lo;
  lo.out = o.out;
  lo.epochs = o.epochs;
  lo.max_steps = o.max_steps;
  lo.log_every = 10;
  lo.val_every = o.val_every;
  lo.clip = o.clip > 0 ? o.clip : INFINITY;  // the norm is measured (and reported) either way
  lo.seed = o.seed;
  lo.ema_decay = o.ema;
  lo.loss_name = "train_loss";
  lo.reducer.bucket_bytes = static_cast<int64_t>(o.dist.bucket_mb * (1 << 20));
  TrainLoop loop(task, opt, nullptr, lo);
  LoopResult lr = loop.run();
  if (lr.exit_code != 0 || !lead()) return lr.exit_code;
  nn::EmaScope averaged(loop.average());  // with --ema, the rest evaluates the moving average
  if (task.val_curve.size() < 2) task.end_epoch(lr.epochs);  // stopped by --max-steps inside an epoch

  nn::write_png_grid(o.out + "/samples.png", model.sample(64), 8);
  task.plots();
  // the latent flow is exactly invertible: h -> z -> h on a test batch, f32 and f64
  Tensor tb = slice(test.images, 0, 0, std::min<int64_t>(128, test.size()));
  InvCheck c32 = invertibility(model, tb);
  auto m64 = std::make_shared<flows::AEFlow>(model.config());
  m64->load_state_dict(model.state_dict());
  m64->to(DType::F64);
  InvCheck c64 = invertibility(*m64, tb);
  std::vector<double> ms;
  for (const auto& s : task.hist) ms.push_back(s.ms);
  double first_mse = task.hist.empty() ? NAN : task.hist.front().mse;
  double max_logs = 0;
  for (const auto& s : task.hist) max_logs = std::max(max_logs, s.max_abs_logs);
  double val_mse = task.val_curve.empty() ? NAN : task.val_curve.back().second;
  std::printf("aeflow (%s): %ld steps in %.1f s (median %.1f ms/step); train MSE %.5f -> %.5f (EMA); "
              "validation MSE %.5f; max |logs| seen %.3g\n",
              o.variant.c_str(), static_cast<long>(lr.steps), lr.train_seconds, median(ms), first_mse, task.ema,
              val_mse, max_logs);
  std::printf("latent flow invertibility on %ld test images: max |f^-1(f(h)) - h| = %.3g in f32, %.3g in f64 "
              "(max |h| = %.3g); max |ldj_fwd + ldj_rev| = %.3g (f32), %.3g (f64)\n",
              static_cast<long>(tb.size(0)), c32.max_err, c64.max_err, c32.max_abs_h, c32.ldj_roundtrip,
              c64.ldj_roundtrip);
  std::printf("wrote %s/last.safetensors, %s/curve.png, %s/diagnostics.jsonl\n", o.out.c_str(), o.out.c_str(),
              o.out.c_str());
  json r{{"variant", o.variant},
         {"nll_weight", model.config().nll_weight},
         {"nll_mode", model.config().nll_mode},
         {"params", model.num_parameters()},
         {"steps", lr.steps},
         {"train_s", lr.train_seconds},
         {"median_ms_per_step", median(ms)},
         {"train_mse_first", first_mse},
         {"train_mse_ema_last", task.ema},
         {"val_mse", val_mse},
         {"val_curve", task.val_curve},
         {"val_subset_curve", task.sub_curve},
         {"max_abs_logs_seen", max_logs},
         {"inverse_max_err_f32", c32.max_err},
         {"inverse_max_err_f64", c64.max_err},
         {"ldj_roundtrip_f32", c32.ldj_roundtrip},
         {"ldj_roundtrip_f64", c64.ldj_roundtrip},
         {"first_nonfinite_step", nullptr}};
  nn::atomic_write_file(o.out + "/results.json", r.dump(1) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int code = 0;
  try {
    if (!parse(argc, argv, o, code)) return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_aeflow: %s (see --help)\n", e.what());
    return 2;
  }
  dist::Session session({o.dist.timeout_s}, &argc, &argv);  // MPI under mpirun; before run_main (rank errors abort)
  return run_main("train_aeflow", [&] {
    if (o.threads > 0) set_num_threads(o.threads);
    o.device = session.use_device(open_device(o.device)).str();
    FG_CHECK(o.bench == 0 || dist::world().size() == 1, "--bench measures one process; run it without mpirun");
    std::string dir = nn::resolve_mnist_dir(o.data);
    nn::MnistData all = nn::load_mnist(dir, "train");
    auto [train_set, val_set] = nn::split_train_val(all, o.train_size, 42);
    nn::MnistData test = nn::load_mnist(dir, "test");
    return o.bench > 0 ? bench(o, train_set, val_set) : run(o, train_set, val_set, test);
  });
}
