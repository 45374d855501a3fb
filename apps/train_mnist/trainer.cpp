#include "apps/train_mnist/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/common/model_io.h"
#include "apps/common/plot.h"
#include "apps/train_mnist/evaluate.h"
#include "nn/checkpoint.h"
#include "nn/data_loader.h"
#include "nn/optim.h"
#include "tensor/counters.h"

namespace fg::app {

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

struct Position {
  int64_t epoch = 0, batch = 0, step = 0;
  double best_val = INFINITY, train_seconds = 0;
};

class Run {
 public:
  Run(const TrainOptions& o, const nn::MnistData& train, const nn::MnistData& val)
      : o_(o), train_(train), val_(val), metrics_(o.out + "/metrics.jsonl", std::ios::app) {
    FG_CHECK(metrics_.good(), "cannot write {}/metrics.jsonl", o.out);
  }

  TrainOutcome run();

 private:
  void validate();
  void save(const std::string& name);
  void log(nlohmann::json j) {
    metrics_ << j.dump() << '\n';
    metrics_.flush();
  }
  double elapsed() const {
    return pos_.train_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  const TrainOptions& o_;
  const nn::MnistData &train_, &val_;
  std::ofstream metrics_;
  std::shared_ptr<flows::ImageFlow> model_;
  std::unique_ptr<nn::Adam> opt_;
  std::unique_ptr<nn::StepLR> sched_;
  flows::ModelConfig cfg_;
  Position pos_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double last_val_ = NAN;
  int64_t last_val_step_ = -1;
};

void Run::save(const std::string& name) {
  std::map<std::string, std::string> meta{
      {"config", flows::config_to_json(cfg_)},     {"epoch", std::to_string(pos_.epoch)},
      {"batch", std::to_string(pos_.batch)},       {"step", std::to_string(pos_.step)},
      {"best_val_bpd", fmt::format("{}", pos_.best_val)}, {"train_seconds", fmt::format("{}", elapsed())},
      {"seed", std::to_string(o_.seed)},           {"batch_size", std::to_string(o_.batch)},
      {"val_bpd", fmt::format("{}", last_val_)}};
  nn::save_checkpoint(o_.out + "/" + name, *model_, opt_.get(), meta);
}

void Run::validate() {
  double v = mean_bpd(*model_, val_, o_.batch, o_.val_batches, 0, "  validate");
  last_val_ = v;
  last_val_step_ = pos_.step;
  log({{"step", pos_.step}, {"epoch", pos_.epoch}, {"val_bpd", v}, {"time_s", elapsed()}});
  Tensor s = model_->sample(o_.sample_count);
  int nrow = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(o_.sample_count))));
  write_image_grid(fmt::format("{}/samples_step{:06}.png", o_.out, pos_.step), s, nrow);
  write_image_grid(o_.out + "/samples_latest.png", s, nrow);
  bool best = v < pos_.best_val;
  if (best) pos_.best_val = v;
  save("last.safetensors");
  if (best) save("best.safetensors");
  std::fprintf(stderr, "  step %ld: val bpd %.4f%s\n", static_cast<long>(pos_.step), v, best ? " (best)" : "");
}

// Device-side bookkeeping of the steps since the last host read: the loss sum over good steps,
// their count, and the non-finite steps (in a row and in total). Reading them is the loop's only
// host read, once every --log-every steps and before any checkpoint.
struct StepStats {
  Tensor loss_sum, good, bad_run, bad_total;
  void reset(Device d) {
    loss_sum = zeros({}, DType::F64, d);
    good = zeros({}, DType::F64, d);
    if (!bad_run.defined()) bad_run = zeros({}, DType::F64, d);
    bad_total = zeros({}, DType::F64, d);
  }
  void add(const Tensor& loss, const Tensor& bad) {
    Tensor ok = 1.0 - bad;
    loss_sum = loss_sum + where(bad, zeros_like(bad), loss.to(DType::F64));
    good = good + ok;
    bad_run = (bad_run + 1.0) * bad;
    bad_total = bad_total + bad;
  }
  struct Read {
    double mean_loss, good, bad_run, bad_total;
  };
  Read read() const {
    auto v = concat({loss_sum.reshape({1}), good.reshape({1}), bad_run.reshape({1}), bad_total.reshape({1})}, 0)
                 .to_vector<double>();
    return {v[1] > 0 ? v[0] / v[1] : NAN, v[1], v[2], v[3]};
  }
};

TrainOutcome Run::run() {
  cfg_ = o_.model;
  manual_seed(o_.seed);
  model_ = flows::build_model(cfg_);
  // The model moves first; the optimizer is built on its parameters there, and a checkpoint is
  // restored after both: on a GPU, every state tensor lands on the device.
  Device dev = Device::parse(o_.device);
  model_->to(dev);
  opt_ = std::make_unique<nn::Adam>(model_->parameters(), o_.lr);
  sched_ = std::make_unique<nn::StepLR>(*opt_, 1, o_.lr_decay);
  if (!o_.resume.empty()) {
    nn::Checkpoint ck = nn::load_checkpoint(o_.resume);
    flows::ModelConfig saved = flows::config_from_json(ck.get("config"));
    saved.import_samples = cfg_.import_samples;  // an evaluation setting, free to change
    FG_CHECK(flows::config_to_json(saved) == flows::config_to_json(cfg_),
             "--resume {}: the checkpoint holds model {} ({}), but this run asks for {} ({})", o_.resume, saved.name,
             flows::arch_name(saved.arch), cfg_.name, flows::arch_name(cfg_.arch));
    nn::restore(ck, *model_, opt_.get());
    pos_ = {ck.get_int("epoch"), ck.get_int("batch"), ck.get_int("step"), ck.get_double("best_val_bpd"),
            ck.get_double("train_seconds")};
    sched_->set_epoch(pos_.epoch);
    std::fprintf(stderr, "resumed %s at epoch %ld, step %ld\n", o_.resume.c_str(), static_cast<long>(pos_.epoch),
                 static_cast<long>(pos_.step));
  }
  std::fprintf(stderr, "%s (%s%s): %ld parameters; %ld training / %ld validation images\n", cfg_.name.c_str(),
               flows::arch_name(cfg_.arch), cfg_.additive ? ", additive" : "", static_cast<long>(model_->num_parameters()),
               static_cast<long>(train_.size()), static_cast<long>(val_.size()));

  g_signal = 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  nn::DataLoader loader(train_.images, Tensor(), o_.batch, true, true, o_.seed);
  FG_CHECK(loader.num_batches() > 0, "--batch {} is larger than the {} training images", o_.batch, train_.size());
  double run_avg = NAN;
  bool stop = false;
  TrainOutcome out;
  int64_t total_steps = o_.epochs * loader.num_batches();
  if (o_.max_steps > 0) total_steps = std::min(total_steps, o_.max_steps);
  Progress bar("train", total_steps);
  if (o_.time_limit_s > 0) bar.set_deadline(o_.time_limit_s - pos_.train_seconds);
  StepStats stats;
  stats.reset(dev);
  int64_t read_from = pos_.step;  // first step the stats cover
  // The one host read: losses and non-finite counts since the last read.
  auto read_stats = [&] {
    if (pos_.step == read_from) return;
    StepStats::Read r = stats.read();
    if (r.good > 0) run_avg = r.mean_loss;
    log({{"step", pos_.step}, {"epoch", pos_.epoch}, {"train_bpd", r.mean_loss}, {"lr", opt_->lr()},
         {"time_s", elapsed()}, {"steps_averaged", r.good}});
    if (r.bad_total > 0) {
      std::fprintf(stderr, "\nwarning: %.0f non-finite step(s) (loss or gradient) between steps %ld and %ld; skipped\n",
                   r.bad_total, static_cast<long>(read_from), static_cast<long>(pos_.step));
      log({{"step", pos_.step}, {"epoch", pos_.epoch}, {"nonfinite_steps", r.bad_total}});
    }
    FG_CHECK(r.bad_run < 5, "{:.0f} non-finite steps in a row (up to step {}); stopping. The last good checkpoint in {} "
             "is untouched", r.bad_run, pos_.step, o_.out);
    stats.reset(dev);
    read_from = pos_.step;
  };
  auto limit_hit = [&] {
    return (o_.max_steps > 0 && pos_.step >= o_.max_steps) || (o_.time_limit_s > 0 && elapsed() >= o_.time_limit_s);
  };
  while (pos_.epoch < o_.epochs && !stop && !limit_hit()) {
    loader.set_epoch(pos_.epoch, pos_.batch);
    nn::Batch b;
    while (!stop && loader.next(b)) {
      opt_->zero_grad();
      nn::StepResult r = nn::optimizer_step(model_->bpd(b.images), *opt_, o_.clip);
      stats.add(r.loss, r.bad);
      ++pos_.step;
      pos_.batch = b.index + 1;
      counters_step();
      if (pos_.step % o_.log_every == 0) read_stats();
      bar.update(pos_.step, fmt::format("epoch {} bpd {:.3f}", pos_.epoch, run_avg));
      if (o_.val_every > 0 && pos_.step % o_.val_every == 0) {
        read_stats();
        validate();
      }
      if (g_signal) stop = true;
      if (limit_hit()) break;
    }
    if (pos_.batch >= loader.num_batches()) {  // epoch complete
      ++pos_.epoch;
      pos_.batch = 0;
      sched_->step();
      if (o_.val_every == 0) {
        read_stats();
        validate();
      }
    }
    if (limit_hit()) break;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  read_stats();
  bar.finish(fmt::format("step {} bpd {:.3f}", pos_.step, run_avg));
  if (stop) {
    save("last.safetensors");
    std::fprintf(stderr, "stopped by signal %d at step %ld; saved %s/last.safetensors (continue with --resume)\n",
                 g_signal.load(), static_cast<long>(pos_.step), o_.out.c_str());
    out.exit_code = 128 + g_signal.load();
  } else if (last_val_step_ != pos_.step) {
    validate();
  }
  plot_training_curves(o_.out + "/metrics.jsonl", o_.out + "/curves.png",
                       fmt::format("{} ({}) on MNIST", cfg_.name, flows::arch_name(cfg_.arch)));
  out.best_val_bpd = pos_.best_val;
  if (std::filesystem::exists(o_.out + "/best.safetensors")) out.best_checkpoint = o_.out + "/best.safetensors";
  return out;
}

}  // namespace

TrainOutcome train(const TrainOptions& o, const nn::MnistData& train_set, const nn::MnistData& val_set) {
  std::filesystem::create_directories(o.out);
  Run r(o, train_set, val_set);
  return r.run();
}

}  // namespace fg::app
