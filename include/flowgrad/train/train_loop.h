// The one training loop every program uses (train_mnist, toy2d, train_aeflow, and the
// flow-matching models): steps with device-side clipping and non-finite skipping and no host
// read but the rate-limited loss read, metrics.jsonl, a progress bar, validation, last/best
// checkpoints written atomically, exact resume, and a clean stop on SIGINT/SIGTERM.
//
// Randomness, so that a run stopped anywhere and resumed continues bit for bit:
//   - training draws come from the default generator, whose state is in every checkpoint;
//   - validation runs with the default generator set to a fixed seed and restored afterwards,
//     so it neither consumes nor depends on the training stream;
//   - data order is a function of (seed, epoch) (nn::DataLoader), or of (seed, step) for
//     step-indexed tasks.
// Stops: --max-steps, --time-limit, the epochs (each validates, when the last validation is
// older, and writes last.safetensors), and SIGINT/SIGTERM (writes last.safetensors at once).
// metrics.jsonl holds every step up to the last checkpoint before it is written; a resume drops
// the lines of the steps after the checkpoint (logged before a kill), so the file continues as
// an uninterrupted run's would.
//
// Data parallel (under mpirun, dist::world() of K ranks; docs/distributed.md): the task's batches
// are global batches of global_batch() rows, of which each rank computes its rows inside a
// dist::ShardedStep (draws keyed by the global sample index); gradients are summed over the
// ranks by a dist::GradReducer while backward runs, so every rank takes the same step, and the
// logged loss is the global batch's. At the start the ranks check that they run the same
// configuration and take rank 0's parameters. After every step they agree on stopping (a signal,
// the time limit, a task's stop), so they stop together. Rank 0 alone writes metrics, checkpoints
// and progress; at each checkpoint the ranks compare parameter checksums.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "flowgrad/dist/communicator.h"
#include "flowgrad/dist/reducer.h"
#include "flowgrad/nn/ema.h"
#include "flowgrad/nn/module.h"
#include "flowgrad/nn/optim.h"
#include "flowgrad/train/progress.h"

namespace fg::train {

struct LoopOptions {
  std::string out;               // metrics.jsonl, last.safetensors, best.safetensors go here
  std::string file_prefix;       // prepended to those names (several runs in one directory)
  int64_t epochs = 0;            // 0: step-indexed (no epochs; max_steps bounds the run)
  int64_t max_steps = 0;         // 0: no limit
  double time_limit_s = 0;       // 0: no limit
  int64_t log_every = 10;        // steps per host read of the step losses (each step gets a line)
  int64_t val_every = 0;         // 0: at the end of each epoch (step-indexed: only at the end)
  int64_t save_every = 0;        // also write last.safetensors every N steps (0: at validations only)
  double clip = 1.0;             // global gradient norm (0: off)
  int64_t warmup_steps = 0;      // > 0: the learning rate rises linearly over the first steps
                                 // (step k uses (k + 1) / warmup of the scheduled rate)
  double ema_decay = 0;          // > 0: keep a moving average of the weights (nn/ema.h); validation,
                                 // the best checkpoint and the checkpoints' ema.* tensors use it
  int max_bad_in_a_row = 5;      // non-finite steps in a row that stop the run
  uint64_t seed = 0;             // validation's fixed generator derives from it
  std::string resume;            // a checkpoint to continue from
  std::string loss_name = "loss";
  bool checkpoints = true;       // write last/best
  std::string progress_label = "train";
  dist::ReducerOptions reducer;  // data parallel: gradient bucket sizes, overlap
};

struct Evaluation {
  nlohmann::json metrics;  // logged with step and epoch
  double score = NAN;      // lower is better; NaN: no best tracking
  std::string summary;     // one line for stderr
};

// What a program trains.
class Task {
 public:
  virtual ~Task() = default;
  virtual nn::Module& model() = 0;
  // Stored in checkpoints; a resume needs config_matches(stored) (by default, the same string).
  virtual std::string config_json() const = 0;
  virtual bool config_matches(const std::string& stored) const { return stored == config_json(); }
  // Batches per epoch; 0 for step-indexed tasks.
  virtual int64_t batches_per_epoch() const { return 0; }
  // Rows of each step's global batch when loss() computes this rank's rows of it (inside the
  // loop's dist::ShardedStep, whose split() says which); 0 for a task that cannot shard its
  // batches (the loop then refuses a world of more than one rank).
  virtual int64_t global_batch() const { return 0; }
  // Called at the start of each epoch (and when resuming mid-epoch, with the batch to start at).
  virtual void start_epoch(int64_t /*epoch*/, int64_t /*batch*/) {}
  // The scalar loss of one step: batch `batch` of `epoch` (global step `step`). Training
  // randomness: the default generator (or a generator derived from the step).
  virtual ag::Var loss(int64_t epoch, int64_t batch, int64_t step) = 0;
  // Validation (the loop has set the default generator to a fixed seed). May write images (rank 0
  // only). Every rank runs it; its score must be the same on every rank (a global mean).
  virtual Evaluation validate(int64_t step, int64_t epoch) = 0;
  // After each completed epoch (before its validation when val_every is 0), under the same
  // fixed-seed randomness as validation.
  virtual void end_epoch(int64_t /*epoch*/) {}
  // Optional per-step diagnostics after the update (host reads allowed). A non-empty return
  // stops the run with that message and without writing a checkpoint (on every rank: the ranks
  // agree on it after the step).
  virtual std::string after_step(int64_t /*step*/, int64_t /*epoch*/, const nn::StepResult& /*r*/) { return {}; }
  // Extra checkpoint metadata.
  virtual std::map<std::string, std::string> meta() const { return {}; }
};

struct LoopResult {
  int exit_code = 0;  // 0, or 128 + the signal that stopped the run
  int64_t steps = 0, epochs = 0;
  double train_seconds = 0, best_score = NAN, last_loss = NAN;
  std::string best_checkpoint;  // empty when none was written
};

namespace detail {
class MetricsLog;
class StepStats;
class StopSignals;
class Cadence;
struct Position;
}  // namespace detail

class TrainLoop {
 public:
  TrainLoop(Task& task, nn::Optimizer& opt, nn::StepLR* sched, LoopOptions o);
  ~TrainLoop();
  // Trains until a limit, the last epoch or a stop signal; throws fg::Error for bad input (a
  // checkpoint of another configuration, an unwritable --out) or after max_bad_in_a_row non-finite
  // steps, leaving the last good checkpoint untouched.
  LoopResult run();
  // The moving average of the weights (LoopOptions::ema_decay), or null: evaluate after training
  // with nn::EmaScope averaged(loop.average()).
  nn::EMA* average() { return ema_.get(); }

 private:
  void start();                      // output directory, resume, metrics log
  void train_step();                 // one optimizer step and its bookkeeping
  void end_epoch();                  // the task's end_epoch, the schedule, the epoch's validation
  void read_stats();                 // the rate-limited host read of the step losses
  void validate();                   // the task's validation; writes last (and best) checkpoints
  void save(const std::string& name);
  void restore(const std::string& path);
  LoopResult finish(int signal);
  double elapsed() const;
  void join_world();                  // data parallel: same configuration, rank 0's parameters, reducer
  // Agrees with the other ranks on stopping after this step: sets stop_ from any rank's signal,
  // the time limit or the task's stop message (`task_stop`).
  void agree_on_stop(int signal, const std::string& task_stop);
  void check_in_sync();               // parameter checksums equal on every rank, or throws
  bool lead() const { return comm_.rank() == 0; }

  Task& task_;
  dist::Communicator& comm_;
  std::unique_ptr<dist::GradReducer> reducer_;
  // data parallel, summed over this run's steps: the steps' wall time, the bucket allreduces' own
  // time, and the time blocked on them after backward (reported at the end, docs/distributed.md)
  struct DistTiming {
    double step = 0, reduce = 0, wait = 0;
    int64_t steps = 0;
  } dist_time_;
  nn::Optimizer& opt_;
  nn::StepLR* sched_;
  LoopOptions o_;
  std::unique_ptr<detail::Position> pos_;
  std::unique_ptr<detail::Cadence> cadence_;
  std::unique_ptr<detail::MetricsLog> log_;
  std::unique_ptr<detail::StepStats> stats_;
  std::unique_ptr<Progress> bar_;
  std::unique_ptr<nn::EMA> ema_;
  double base_lr_ = 0;
  std::chrono::steady_clock::time_point start_;
  int64_t last_val_step_ = -1, read_from_ = 0, first_step_ = 0;
  double last_score_ = NAN;
  int stop_signal_ = 0;     // agreed: a rank caught this signal
  bool stop_ = false;       // agreed: stop after this step (signal, time limit)
  std::string stop_message_;  // agreed: a task's after_step stopped the run
  const detail::StopSignals* signals_ = nullptr;  // while run() runs
};

// Validation's fixed-seed stream: sets the default generator for the scope and restores it.
class EvalRandomness {
 public:
  explicit EvalRandomness(uint64_t seed);
  ~EvalRandomness();

 private:
  uint64_t seed_, offset_;
};

}  // namespace fg::train
