#include "flowgrad/train/train_loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/dist/shard.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/tensor/counters.h"
#include "train/loop_parts.h"

namespace fg::train {

using detail::Position;

namespace {
constexpr uint64_t kEvalSeedMix = 0x7a11da7e5eedull;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

EvalRandomness::EvalRandomness(uint64_t seed)
    : seed_(default_generator().seed()), offset_(default_generator().offset()) {
  default_generator().set_state(seed ^ kEvalSeedMix, 0);
}
EvalRandomness::~EvalRandomness() { default_generator().set_state(seed_, offset_); }

TrainLoop::TrainLoop(Task& task, nn::Optimizer& opt, nn::StepLR* sched, LoopOptions o)
    : task_(task), comm_(dist::world()), opt_(opt), sched_(sched), o_(std::move(o)), pos_(std::make_unique<Position>()),
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
  if (ema_ && ck.ema.empty() && lead())
    std::fprintf(stderr, "%s holds no moving average of the weights: it starts from the current ones\n", path.c_str());
  *pos_ = {ck.get_int("epoch"), ck.get_int("batch"), ck.get_int("step"), ck.get_double("best_score"),
           ck.get_double("train_seconds")};
  if (sched_) sched_->set_epoch(pos_->epoch);
  if (lead())
    std::fprintf(stderr, "resumed %s at epoch %ld, step %ld\n", path.c_str(), static_cast<long>(pos_->epoch),
               static_cast<long>(pos_->step));
}

void TrainLoop::save(const std::string& name) {
  if (!o_.checkpoints) return;
  check_in_sync();
  if (!lead()) return;
  dist::SoloScope solo(comm_, "writing " + name);
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
  if (!ev.summary.empty() && lead())
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
  if (lead()) {
    fs::create_directories(o_.out);
    const int stale = nn::remove_stale_temporaries(o_.out);
    if (stale > 0)
      std::fprintf(stderr, "removed %d temporary file(s) an interrupted write left in %s\n", stale, o_.out.c_str());
  }
  if (!o_.resume.empty()) restore(o_.resume);
  join_world();
  log_ = lead() ? std::make_unique<detail::MetricsLog>(o_.out + "/" + o_.file_prefix + "metrics.jsonl",
                                                       o_.resume.empty() ? -1 : pos_->step)
                : std::make_unique<detail::MetricsLog>();
  cadence_ = std::make_unique<detail::Cadence>(o_, task_.batches_per_epoch());
  bar_ = std::make_unique<Progress>(o_.progress_label, cadence_->total_steps());
  if (o_.time_limit_s > 0) bar_->set_deadline(o_.time_limit_s - pos_->train_seconds);
  start_ = std::chrono::steady_clock::now();
  read_from_ = first_step_ = pos_->step;
  task_.model().train();
}

void TrainLoop::join_world() {
  if (comm_.size() == 1) return;
  const int64_t global = task_.global_batch();
  FG_CHECK(global > 0, "this program cannot train over {} ranks: its task does not split its batches", comm_.size());
  const dist::BatchSplit split = dist::split_batch(global, comm_.rank(), comm_.size());
  // what changes the numbers: the model, the batch, seed, clipping, limits, rate, the resume point
  const std::string mine = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", task_.config_json(), global, o_.seed, o_.clip,
                                       o_.max_steps, o_.epochs, opt_.lr(), o_.ema_decay, o_.warmup_steps, pos_->step);
  const std::vector<uint64_t> all = comm_.allgather(fnv1a(mine), "configuration check");
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  FG_CHECK(differ.empty(), "the ranks disagree: rank(s) {} run another configuration than rank 0 (model, --batch, "
           "--seed, --clip, limits, learning rate or the checkpoint resumed differ); start every rank with the same "
           "options", differ);
  // rank 0's parameters and buffers everywhere (the ranks seed alike, so this changes nothing
  // unless something was off)
  for (auto named : {task_.model().named_parameters(), task_.model().named_buffers()})
    for (auto& [name, v] : named) {
      Tensor t = v.value().contiguous().clone();
      comm_.broadcast(t, 0, "broadcast " + name);
      v.mutable_value() = t;
    }
  reducer_ = std::make_unique<dist::GradReducer>(comm_, opt_.params(), o_.reducer);
  if (lead()) {
    std::string sizes;
    for (const auto& b : reducer_->bucket_params()) {
      int64_t bytes = 0;
      for (size_t k : b) bytes += opt_.params()[k].numel() * static_cast<int64_t>(dtype_size(opt_.params()[k].dtype()));
      sizes += fmt::format("{}{:.2f}", sizes.empty() ? "" : ", ", static_cast<double>(bytes) / (1 << 20));
    }
    std::fprintf(stderr, "data parallel: %d ranks (%s), global batch %ld (%ld on rank 0), %zu gradient bucket(s) of "
                 "%s MB\n", comm_.size(), comm_.name(), static_cast<long>(global), static_cast<long>(split.rows),
                 reducer_->bucket_params().size(), sizes.c_str());
  }
}

void TrainLoop::agree_on_stop(int signal, const std::string& task_stop) {
  std::vector<double> v{static_cast<double>(signal), cadence_->time_up(elapsed()) ? 1.0 : 0.0,
                        task_stop.empty() ? 0.0 : static_cast<double>(comm_.rank() + 1)};
  comm_.allreduce(v, dist::ReduceOp::Max, "stop flags");
  stop_signal_ = static_cast<int>(v[0]);
  stop_ = v[0] != 0 || v[1] != 0;
  if (v[2] != 0)
    stop_message_ = !task_stop.empty() ? task_stop
        : fmt::format("rank {} stopped the run after step {} (its output says why)", static_cast<int>(v[2]) - 1,
                      pos_->step);
}

void TrainLoop::check_in_sync() {
  if (comm_.size() == 1) return;
  std::vector<Tensor> state;
  for (auto named : {task_.model().named_parameters(), task_.model().named_buffers()})
    for (auto& [name, v] : named) state.push_back(v.value());
  const std::vector<uint64_t> sums = comm_.allgather(dist::checksum(state), "parameter checksums");
  for (size_t r = 1; r < sums.size(); ++r)
    FG_CHECK(sums[r] == sums[0], "the ranks' parameters differ at step {}: rank {}'s checksum is {:016x}, rank 0's "
             "{:016x} (the replicas went out of step); nothing was saved", pos_->step, r, sums[r], sums[0]);
}

void TrainLoop::train_step() {
  const int64_t step = pos_->step;
  const auto step_start = std::chrono::steady_clock::now();
  comm_.set_step(step);
  detail::fault_hang(step);
  if (o_.warmup_steps > 0) {
    const double scheduled = sched_ ? sched_->lr() : base_lr_;
    opt_.set_lr(scheduled * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(o_.warmup_steps)));
  }
  opt_.zero_grad();
  nn::StepOptions so;
  ag::Var loss;
  {
    std::optional<dist::ShardedStep> shard;  // this rank's rows of the global batch, draws keyed globally
    if (task_.global_batch() > 0) {
      shard.emplace(comm_, task_.global_batch());
      so.share = shard->split().share();
    }
    loss = detail::fault_loss(task_.loss(pos_->epoch, pos_->batch, step), step);
  }
  so.clip = o_.clip;
  so.after_backward = [&] { detail::fault_grads(opt_.params(), step); };
  so.reducer = reducer_.get();
  const nn::StepResult r = nn::optimizer_step(loss, opt_, so);
  task_.model().weights_changed();
  if (reducer_) {
    dist_time_.step += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    dist_time_.reduce += reducer_->timing().reduce;
    dist_time_.wait += reducer_->timing().wait;
    ++dist_time_.steps;
  }
  if (ema_) ema_->update(&r.bad);
  detail::fault_desync(opt_.params(), step);
  stats_->add(r, pos_->epoch, opt_.lr());
  ++pos_->step;
  ++pos_->batch;
  counters_step();
  agree_on_stop(signals_ ? signals_->caught() : 0, task_.after_step(step, pos_->epoch, r));
  if (!stop_message_.empty()) {
    read_stats();
    bar_->finish(fmt::format("stopped at step {}", pos_->step));
    fail(stop_message_);
  }
  if (cadence_->read_due(pos_->step)) read_stats();
  // the running loss is NaN until the first (rate-limited) read of a good step's loss: show none yet
  const double shown = stats_->running_loss();
  std::string text = std::isnan(shown) ? "" : fmt::format("{} {:.4f}", o_.loss_name, shown);
  if (comm_.size() > 1) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = s > 0 ? static_cast<double>((pos_->step - first_step_) * task_.global_batch()) / s : 0;
    text = fmt::format("{} ranks {:.0f} img/s {}", comm_.size(), rate, text);
  }
  bar_->update(pos_->step, cadence_->by_epochs() ? fmt::format("epoch {} {}", pos_->epoch, text) : text);
  if (cadence_->validate_due(pos_->step)) {
    read_stats();
    validate();
    agree_on_stop(signals_ ? signals_->caught() : 0, "");  // the time limit may have passed meanwhile
  } else if (cadence_->save_due(pos_->step)) {
    read_stats();
    save("last.safetensors");
    agree_on_stop(signals_ ? signals_->caught() : 0, "");
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
    if (lead())
      std::fprintf(stderr, "stopped by signal %d at step %ld; saved %s/%slast.safetensors (continue with --resume)\n",
                 signal, static_cast<long>(pos_->step), o_.out.c_str(), o_.file_prefix.c_str());
    out.exit_code = 128 + signal;
  } else if (last_val_step_ != pos_->step) {
    validate();  // also writes last.safetensors
  }
  if (reducer_ && dist_time_.steps > 0) {
    // what a DDP user checks first: are the replicas one model, and what does the reduction cost
    check_in_sync();
    if (lead()) {
      const double n = static_cast<double>(dist_time_.steps);
      std::fprintf(stderr, "data parallel: the %d ranks' parameters are bit-identical; per step %.1f ms, of which "
                   "the gradient allreduce %.1f ms (%.0f%%, on the communicator's thread) and %.1f ms (%.0f%%) "
                   "waited for it after backward\n", comm_.size(), 1e3 * dist_time_.step / n,
                   1e3 * dist_time_.reduce / n, 100 * dist_time_.reduce / dist_time_.step, 1e3 * dist_time_.wait / n,
                   100 * dist_time_.wait / dist_time_.step);
    }
  }
  out.steps = pos_->step;
  out.epochs = pos_->epoch;
  out.train_seconds = elapsed();
  out.best_score = pos_->best;
  out.last_loss = stats_->running_loss();
  const std::string best = o_.out + "/" + o_.file_prefix + "best.safetensors";
  std::vector<double> written{lead() && std::filesystem::exists(best) ? 1.0 : 0.0};  // rank 0 wrote it
  comm_.allreduce(written, dist::ReduceOp::Max, "best checkpoint");
  if (written[0] != 0) out.best_checkpoint = best;
  return out;
}

LoopResult TrainLoop::run() {
  start();
  detail::StopSignals signals;
  signals_ = &signals;
  agree_on_stop(signals.caught(), "");
  auto done = [&] { return stop_ || cadence_->finished(*pos_); };
  while (!done()) {
    task_.start_epoch(pos_->epoch, pos_->batch);
    while (!done() && !cadence_->epoch_over(*pos_)) train_step();
    if (cadence_->epoch_over(*pos_)) {
      end_epoch();
      agree_on_stop(signals.caught(), "");
    }
  }
  agree_on_stop(signals.caught(), "");
  signals_ = nullptr;
  return finish(stop_signal_);
}

}  // namespace fg::train
