#include "flowgrad/train/train_loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/tensor/counters.h"
#include "train/loop_parts.h"

namespace fg::train {

using detail::Position;

namespace {
constexpr uint64_t kEvalSeedMix = 0x7a11da7e5eedull;
}  // namespace

EvalRandomness::EvalRandomness(uint64_t seed)
    : seed_(default_generator().seed()), offset_(default_generator().offset()) {
  default_generator().set_state(seed ^ kEvalSeedMix, 0);
}
EvalRandomness::~EvalRandomness() { default_generator().set_state(seed_, offset_); }

TrainLoop::TrainLoop(Task& task, nn::Optimizer& opt, nn::StepLR* sched, LoopOptions o)
    : task_(task), opt_(opt), sched_(sched), o_(std::move(o)), pos_(std::make_unique<Position>()),
      stats_(std::make_unique<detail::StepStats>()) {
  if (o_.ema_decay > 0) ema_ = std::make_unique<nn::EMA>(task_.model(), o_.ema_decay);
  base_lr_ = opt_.lr();
}

TrainLoop::~TrainLoop() = default;

double TrainLoop::elapsed() const {
  return pos_->train_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void TrainLoop::restore(const std::string& path) {
  nn::Checkpoint ck = nn::load_checkpoint(path);
  FG_CHECK(task_.config_matches(ck.get("config")),
           "--resume {}: the checkpoint was trained with a different configuration:\n  checkpoint: {}\n  this run:   {}",
           path, printable(ck.get("config"), 300), task_.config_json());
  nn::restore(ck, task_.model(), &opt_, true, ema_.get());
  if (ema_ && ck.ema.empty())
    std::fprintf(stderr, "%s holds no moving average of the weights: it starts from the current ones\n", path.c_str());
  *pos_ = {ck.get_int("epoch"), ck.get_int("batch"), ck.get_int("step"), ck.get_double("best_score"),
           ck.get_double("train_seconds")};
  if (sched_) sched_->set_epoch(pos_->epoch);
  std::fprintf(stderr, "resumed %s at epoch %ld, step %ld\n", path.c_str(), static_cast<long>(pos_->epoch),
               static_cast<long>(pos_->step));
}

void TrainLoop::save(const std::string& name) {
  if (!o_.checkpoints) return;
  std::map<std::string, std::string> meta = task_.meta();
  meta["config"] = task_.config_json();
  meta["epoch"] = std::to_string(pos_->epoch);
  meta["batch"] = std::to_string(pos_->batch);
  meta["step"] = std::to_string(pos_->step);
  meta["best_score"] = fmt::format("{}", pos_->best);
  meta["train_seconds"] = fmt::format("{}", elapsed());
  meta["seed"] = std::to_string(o_.seed);
  meta["val_score"] = fmt::format("{}", last_score_);
  nn::save_checkpoint(o_.out + "/" + o_.file_prefix + name, task_.model(), &opt_, meta, ema_.get());
}

void TrainLoop::validate() {
  Evaluation ev;
  {
    ag::NoGradGuard ng;
    EvalRandomness r(o_.seed);
    nn::EmaScope averaged(ema_.get());  // validation (and the best checkpoint) by the average
    if (ema_) task_.model().weights_changed();
    task_.model().eval();
    ev = task_.validate(pos_->step, pos_->epoch);
    task_.model().train();
  }
  if (ema_) task_.model().weights_changed();  // the live weights again
  last_val_step_ = pos_->step;
  last_score_ = ev.score;
  nlohmann::json j = ev.metrics;
  j["step"] = pos_->step;
  j["epoch"] = pos_->epoch;
  j["time_s"] = elapsed();
  log_->write(j);
  const bool best = std::isfinite(ev.score) && ev.score < pos_->best;
  if (best) pos_->best = ev.score;
  save("last.safetensors");
  if (best) save("best.safetensors");
  if (!ev.summary.empty())
    std::fprintf(stderr, "\n  step %ld: %s%s\n", static_cast<long>(pos_->step), ev.summary.c_str(), best ? " (best)" : "");
}

void TrainLoop::read_stats() {
  const int64_t bad_run = stats_->read(read_from_, o_.loss_name, *log_);
  read_from_ = pos_->step;
  FG_CHECK(bad_run < o_.max_bad_in_a_row,
           "{} non-finite steps in a row (up to step {}); stopping. The last good checkpoint in {} is untouched",
           bad_run, pos_->step, o_.out);
}

void TrainLoop::start() {
  namespace fs = std::filesystem;
  fs::create_directories(o_.out);
  const int stale = nn::remove_stale_temporaries(o_.out);
  if (stale > 0) std::fprintf(stderr, "removed %d temporary file(s) an interrupted write left in %s\n", stale, o_.out.c_str());
  if (!o_.resume.empty()) restore(o_.resume);
  log_ = std::make_unique<detail::MetricsLog>(o_.out + "/" + o_.file_prefix + "metrics.jsonl",
                                              o_.resume.empty() ? -1 : pos_->step);
  cadence_ = std::make_unique<detail::Cadence>(o_, task_.batches_per_epoch());
  bar_ = std::make_unique<Progress>(o_.progress_label, cadence_->total_steps());
  if (o_.time_limit_s > 0) bar_->set_deadline(o_.time_limit_s - pos_->train_seconds);
  start_ = std::chrono::steady_clock::now();
  read_from_ = pos_->step;
  task_.model().train();
}

void TrainLoop::train_step() {
  const int64_t step = pos_->step;
  if (o_.warmup_steps > 0) {
    const double scheduled = sched_ ? sched_->lr() : base_lr_;
    opt_.set_lr(scheduled * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(o_.warmup_steps)));
  }
  opt_.zero_grad();
  ag::Var loss = detail::fault_loss(task_.loss(pos_->epoch, pos_->batch, step), step);
  const nn::StepResult r = nn::optimizer_step(loss, opt_, o_.clip, [&] { detail::fault_grads(opt_.params(), step); });
  task_.model().weights_changed();
  if (ema_) ema_->update(&r.bad);
  stats_->add(r, pos_->epoch, opt_.lr());
  ++pos_->step;
  ++pos_->batch;
  counters_step();
  if (std::string stop = task_.after_step(step, pos_->epoch, r); !stop.empty()) {
    read_stats();
    bar_->finish(fmt::format("stopped at step {}", pos_->step));
    fail(stop);
  }
  if (cadence_->read_due(pos_->step)) read_stats();
  // the running loss is NaN until the first (rate-limited) read of a good step's loss: show none yet
  const double shown = stats_->running_loss();
  const std::string loss_text = std::isnan(shown) ? "" : fmt::format("{} {:.4f}", o_.loss_name, shown);
  bar_->update(pos_->step, cadence_->by_epochs() ? fmt::format("epoch {} {}", pos_->epoch, loss_text) : loss_text);
  if (cadence_->validate_due(pos_->step)) {
    read_stats();
    validate();
  } else if (cadence_->save_due(pos_->step)) {
    read_stats();
    save("last.safetensors");
  }
}

void TrainLoop::end_epoch() {
  read_stats();
  {
    ag::NoGradGuard ng;
    EvalRandomness r(o_.seed);
    task_.model().eval();
    task_.end_epoch(pos_->epoch);
    task_.model().train();
  }
  ++pos_->epoch;
  pos_->batch = 0;
  if (sched_) sched_->step();
  if (cadence_->validate_each_epoch()) validate();
}

LoopResult TrainLoop::finish(int signal) {
  read_stats();
  bar_->finish(fmt::format("step {} {} {:.4f}", pos_->step, o_.loss_name, stats_->running_loss()));
  LoopResult out;
  if (signal) {
    save("last.safetensors");  // a prompt stop: no validation
    std::fprintf(stderr, "stopped by signal %d at step %ld; saved %s/%slast.safetensors (continue with --resume)\n",
                 signal, static_cast<long>(pos_->step), o_.out.c_str(), o_.file_prefix.c_str());
    out.exit_code = 128 + signal;
  } else if (last_val_step_ != pos_->step) {
    validate();  // also writes last.safetensors
  }
  out.steps = pos_->step;
  out.epochs = pos_->epoch;
  out.train_seconds = elapsed();
  out.best_score = pos_->best;
  out.last_loss = stats_->running_loss();
  const std::string best = o_.out + "/" + o_.file_prefix + "best.safetensors";
  if (std::filesystem::exists(best)) out.best_checkpoint = best;
  return out;
}

LoopResult TrainLoop::run() {
  start();
  detail::StopSignals signals;
  auto done = [&] { return signals.caught() || cadence_->finished(*pos_, elapsed()); };
  while (!done()) {
    task_.start_epoch(pos_->epoch, pos_->batch);
    while (!done() && !cadence_->epoch_over(*pos_)) train_step();
    if (cadence_->epoch_over(*pos_)) end_epoch();
  }
  return finish(signals.caught());
}

}  // namespace fg::train
