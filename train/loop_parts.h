// The training loop's parts, one responsibility each (internal to train/; TrainLoop composes them):
//   MetricsLog   metrics.jsonl: opened fresh, or on resume cut back to the checkpoint's step (rank 0
//                of a data-parallel job; other ranks get a closed one that writes nothing)
//   StopSignals  SIGINT/SIGTERM caught for the loop's lifetime (a clean stop, not a kill)
//   Cadence      when the loop validates, saves, reads its losses and stops
//   StepStats    the device-side losses and skip flags of the steps since the last host read
//   inject_faults the train.nan_loss / train.nan_grad fault points (nn/fault.h)
#pragma once
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flowgrad/train/train_loop.h"

namespace fg::train::detail {

class MetricsLog {
 public:
  // Opens `path` for appending after keeping only the lines up to `resume_step` (a resume: lines
  // logged after the checkpoint was written are dropped), or empty when resume_step < 0.
  MetricsLog(const std::string& path, int64_t resume_step);
  MetricsLog() = default;  // writes nothing
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& line);

 private:
  std::FILE* f_ = nullptr;
};

class StopSignals {
 public:
  StopSignals();   // installs the handlers, clearing any earlier signal
  ~StopSignals();  // restores the default handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int caught() const;  // the signal number, or 0
};

struct Position {
  int64_t epoch = 0, batch = 0, step = 0;
  double best = INFINITY, train_seconds = 0;
};

class Cadence {
 public:
  Cadence(const LoopOptions& o, int64_t batches_per_epoch);
  bool by_epochs() const { return epochs_; }
  int64_t total_steps() const { return total_; }  // for the progress bar (0: unknown)
  bool time_up(double elapsed) const;         // --time-limit
  bool finished(const Position& p) const;     // --max-steps, or all epochs done
  bool epoch_over(const Position& p) const { return epochs_ && p.batch >= per_epoch_; }
  bool read_due(int64_t step) const { return step % o_.log_every == 0; }
  bool validate_due(int64_t step) const { return o_.val_every > 0 && step % o_.val_every == 0; }
  bool save_due(int64_t step) const { return o_.save_every > 0 && step % o_.save_every == 0; }
  bool validate_each_epoch() const { return o_.val_every == 0; }

 private:
  const LoopOptions& o_;
  int64_t per_epoch_;
  bool epochs_;
  int64_t total_;
};

class StepStats {
 public:
  void add(const nn::StepResult& r, int64_t epoch, double lr);  // lr: the rate the step used
  // The one host read of the loop: a metrics line per step since the last read (steps from+1...),
  // the running loss, and a warning for skipped non-finite steps. Returns the current run of
  // consecutive skipped steps.
  int64_t read(int64_t from, const std::string& loss_name, MetricsLog& log);
  double running_loss() const { return running_; }  // NaN until a good step was read

 private:
  std::vector<Tensor> losses_, bads_;
  std::vector<int64_t> epochs_;
  std::vector<double> lrs_;
  double running_ = NAN;
  int64_t bad_run_ = 0;
};

// The fault points of a step (nn/fault.h): train.nan_loss multiplies the loss by NaN;
// train.nan_grad, run between backward and clipping, sets one gradient element to NaN;
// dist.hang makes this process stop taking part (it sleeps for good) at the step's start;
// dist.desync adds 1e-3 to one parameter element after the update (the replicas go out of step).
// Under mpirun a fault is given to one rank by its own environment (mpirun ... : -np 1 env FG_FAULT=...).
ag::Var fault_loss(ag::Var loss, int64_t step);
void fault_grads(const std::vector<ag::Var>& params, int64_t step);
void fault_hang(int64_t step);
void fault_desync(const std::vector<ag::Var>& params, int64_t step);

}  // namespace fg::train::detail
