#include "flowgrad/train/train_loop.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "flowgrad/train/progress.h"
#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/nn/checkpoint.h"
#include "nn/fault.h"
#include "flowgrad/tensor/counters.h"

namespace fg::train {

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

constexpr uint64_t kEvalSeedMix = 0x7a11da7e5eedull;

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

EvalRandomness::EvalRandomness(uint64_t seed)
    : seed_(default_generator().seed()), offset_(default_generator().offset()) {
  default_generator().set_state(seed ^ kEvalSeedMix, 0);
}
EvalRandomness::~EvalRandomness() { default_generator().set_state(seed_, offset_); }

TrainLoop::TrainLoop(Task& task, nn::Optimizer& opt, nn::StepLR* sched, LoopOptions o)
    : task_(task), opt_(opt), sched_(sched), o_(std::move(o)) {}

double TrainLoop::elapsed() const {
  return pos_.train_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void TrainLoop::log(const nlohmann::json& j) {
  if (!metrics_) return;
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), metrics_);
  std::fflush(metrics_);
}

void TrainLoop::restore(const std::string& path) {
  nn::Checkpoint ck = nn::load_checkpoint(path);
  FG_CHECK(task_.config_matches(ck.get("config")),
           "--resume {}: the checkpoint was trained with a different configuration:\n  checkpoint: {}\n  this run:   {}",
           path, printable(ck.get("config"), 300), task_.config_json());
  nn::restore(ck, task_.model(), &opt_);
  pos_ = {ck.get_int("epoch"), ck.get_int("batch"), ck.get_int("step"), ck.get_double("best_score"),
          ck.get_double("train_seconds")};
  if (sched_) sched_->set_epoch(pos_.epoch);
  std::fprintf(stderr, "resumed %s at epoch %ld, step %ld\n", path.c_str(), static_cast<long>(pos_.epoch),
               static_cast<long>(pos_.step));
}

void TrainLoop::save(const std::string& name) {
  if (!o_.checkpoints) return;
  std::map<std::string, std::string> meta = task_.meta();
  meta["config"] = task_.config_json();
  meta["epoch"] = std::to_string(pos_.epoch);
  meta["batch"] = std::to_string(pos_.batch);
  meta["step"] = std::to_string(pos_.step);
  meta["best_score"] = fmt::format("{}", pos_.best);
  meta["train_seconds"] = fmt::format("{}", elapsed());
  meta["seed"] = std::to_string(o_.seed);
  meta["val_score"] = fmt::format("{}", last_score_);
  nn::save_checkpoint(o_.out + "/" + o_.file_prefix + name, task_.model(), &opt_, meta);
}

void TrainLoop::validate() {
  Evaluation ev;
  {
    ag::NoGradGuard ng;
    EvalRandomness r(o_.seed);
    task_.model().eval();
    ev = task_.validate(pos_.step, pos_.epoch);
    task_.model().train();
  }
  last_val_step_ = pos_.step;
  last_score_ = ev.score;
  nlohmann::json j = ev.metrics;
  j["step"] = pos_.step;
  j["epoch"] = pos_.epoch;
  j["time_s"] = elapsed();
  log(j);
  bool best = std::isfinite(ev.score) && ev.score < pos_.best;
  if (best) pos_.best = ev.score;
  save("last.safetensors");
  if (best) save("best.safetensors");
  if (!ev.summary.empty())
    std::fprintf(stderr, "\n  step %ld: %s%s\n", static_cast<long>(pos_.step), ev.summary.c_str(), best ? " (best)" : "");
}

// The loop's one host read: the losses and skip flags of the steps since the last read, one
// metrics line per step. Stops the run after max_bad_in_a_row non-finite steps in a row.
void TrainLoop::read_stats(bool final_read) {
  if (losses_.empty()) return;
  std::vector<Tensor> parts;
  for (size_t i = 0; i < losses_.size(); ++i) {
    parts.push_back(losses_[i].to(DType::F64).reshape({1}));
    parts.push_back(bads_[i].reshape({1}));
  }
  std::vector<double> v = concat(parts, 0).to_vector<double>();
  int64_t bad = 0, first_bad = -1;
  double sum = 0;
  int64_t good = 0;
  for (size_t i = 0; i < losses_.size(); ++i) {
    const int64_t step = read_from_ + static_cast<int64_t>(i) + 1;
    const bool skipped = v[2 * i + 1] != 0;
    nlohmann::json j{{"step", step}, {"epoch", epochs_[i]}, {o_.loss_name, num(v[2 * i])}, {"lr", opt_.lr()}};
    if (skipped) {
      j["nonfinite"] = true;
      ++bad;
      if (first_bad < 0) first_bad = step;
      ++bad_run_;
    } else {
      sum += v[2 * i];
      ++good;
      bad_run_ = 0;
    }
    log(j);
  }
  if (good > 0) run_loss_ = sum / static_cast<double>(good);
  losses_.clear();
  bads_.clear();
  epochs_.clear();
  read_from_ = pos_.step;
  if (bad > 0)
    std::fprintf(stderr, "\nwarning: %ld non-finite step(s) (loss or gradient), the first at step %ld; skipped, the "
                 "weights are unchanged by them\n", static_cast<long>(bad), static_cast<long>(first_bad));
  FG_CHECK(bad_run_ < o_.max_bad_in_a_row,
           "{} non-finite steps in a row (up to step {}); stopping. The last good checkpoint in {} is untouched",
           bad_run_, pos_.step, o_.out);
  (void)final_read;
}

LoopResult TrainLoop::run() {
  namespace fs = std::filesystem;
  fs::create_directories(o_.out);
  int stale = nn::remove_stale_temporaries(o_.out);
  if (stale > 0) std::fprintf(stderr, "removed %d temporary file(s) an interrupted write left in %s\n", stale, o_.out.c_str());
  const std::string metrics_path = o_.out + "/" + o_.file_prefix + "metrics.jsonl";
  if (!o_.resume.empty()) {
    restore(o_.resume);
    // keep the lines up to the checkpoint's step: later ones were logged before the run stopped
    std::ifstream in(metrics_path);
    std::string kept, line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > pos_.step)
        continue;
      kept += line + "\n";
    }
    if (in.is_open()) nn::atomic_write_file(metrics_path, kept);
  }
  metrics_ = std::fopen(metrics_path.c_str(), o_.resume.empty() ? "w" : "a");
  FG_CHECK(metrics_, "cannot write {}", metrics_path);
  struct Closer {
    std::FILE*& f;
    ~Closer() {
      if (f) std::fclose(f);
      f = nullptr;
    }
  } closer{metrics_};
  start_ = std::chrono::steady_clock::now();
  read_from_ = pos_.step;
  task_.model().train();

  g_signal = 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  struct RestoreSignals {
    ~RestoreSignals() {
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
    }
  } restore_signals;

  const int64_t per_epoch = task_.batches_per_epoch();
  const bool epochs = per_epoch > 0 && o_.epochs > 0;
  int64_t total = epochs ? o_.epochs * per_epoch : o_.max_steps;
  if (o_.max_steps > 0) total = std::min(total, o_.max_steps);
  Progress bar(o_.progress_label, total);
  if (o_.time_limit_s > 0) bar.set_deadline(o_.time_limit_s - pos_.train_seconds);
  auto limit_hit = [&] {
    return (o_.max_steps > 0 && pos_.step >= o_.max_steps) || (o_.time_limit_s > 0 && elapsed() >= o_.time_limit_s);
  };
  auto done = [&] { return limit_hit() || g_signal || (epochs && pos_.epoch >= o_.epochs) || (!epochs && total <= 0); };
  LoopResult out;
  while (!done()) {
    task_.start_epoch(pos_.epoch, pos_.batch);
    while (!done() && (!epochs || pos_.batch < per_epoch)) {
      const int64_t step = pos_.step;
      opt_.zero_grad();
      ag::Var loss = task_.loss(pos_.epoch, pos_.batch, step);
      if (nn::fault_armed("train.nan_loss", step)) loss = loss * NAN;
      auto poison = [&] {  // the train.nan_grad fault: one gradient element becomes NaN
        if (!nn::fault_armed("train.nan_grad", step)) return;
        for (ag::Var p : opt_.params())
          if (p.grad().defined()) {
            Tensor g = p.grad().clone();
            Tensor first = slice(flatten(g, 0), 0, 0, 1);
            copy_into(full({1}, NAN, g.dtype(), g.device()), first);
            p.set_grad(g);
            break;
          }
      };
      nn::StepResult r = nn::optimizer_step(loss, opt_, o_.clip, poison);
      losses_.push_back(r.loss);
      bads_.push_back(r.bad);
      epochs_.push_back(pos_.epoch);
      ++pos_.step;
      ++pos_.batch;
      counters_step();
      std::string stop = task_.after_step(step, pos_.epoch, r);
      if (!stop.empty()) {
        read_stats(true);
        bar.finish(fmt::format("stopped at step {}", pos_.step));
        fail(stop);
      }
      if (pos_.step % o_.log_every == 0) read_stats(false);
      // run_loss_ is NaN until the first (rate-limited) read of a good step's loss: show none yet
      const std::string shown = std::isnan(run_loss_) ? "" : fmt::format("{} {:.4f}", o_.loss_name, run_loss_);
      bar.update(pos_.step, epochs ? fmt::format("epoch {} {}", pos_.epoch, shown) : shown);
      if (o_.val_every > 0 && pos_.step % o_.val_every == 0) {
        read_stats(false);
        validate();
      } else if (o_.save_every > 0 && pos_.step % o_.save_every == 0) {
        read_stats(false);
        save("last.safetensors");
      }
    }
    if (epochs && pos_.batch >= per_epoch) {
      read_stats(false);
      {
        ag::NoGradGuard ng;
        EvalRandomness r(o_.seed);
        task_.model().eval();
        task_.end_epoch(pos_.epoch);
        task_.model().train();
      }
      ++pos_.epoch;
      pos_.batch = 0;
      if (sched_) sched_->step();
      if (o_.val_every == 0) validate();
    }
  }
  read_stats(true);
  bar.finish(fmt::format("step {} {} {:.4f}", pos_.step, o_.loss_name, run_loss_));
  if (g_signal) {
    save("last.safetensors");  // a prompt stop: no validation (read_stats ran above)
    std::fprintf(stderr, "stopped by signal %d at step %ld; saved %s/%slast.safetensors (continue with --resume)\n",
                 g_signal.load(), static_cast<long>(pos_.step), o_.out.c_str(), o_.file_prefix.c_str());
    out.exit_code = 128 + g_signal.load();
  } else if (last_val_step_ != pos_.step) {
    validate();  // also writes last.safetensors
  }
  out.steps = pos_.step;
  out.epochs = pos_.epoch;
  out.train_seconds = elapsed();
  out.best_score = pos_.best;
  out.last_loss = run_loss_;
  const std::string best = o_.out + "/" + o_.file_prefix + "best.safetensors";
  if (fs::exists(best)) out.best_checkpoint = best;
  return out;
}

}  // namespace fg::train
