// Exponential moving average of a model's parameters (Polyak averaging: timm's ModelEmaV2,
// torchcfm's and residual-flows' EMA): after each optimizer step
//   shadow = decay * shadow + (1 - decay) * param,
// the shadow starting as a copy of the parameters at the first update (after the first step, so
// data-dependent initializations such as ActNorm's are averaged from their initialized values).
// Buffers are not averaged. Evaluation and sampling use the average by swapping it in (EmaScope).
// Everything stays on the parameters' device: an update reads nothing back to the host.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "flowgrad/nn/module.h"

namespace fg::nn {

class EMA {
 public:
  // decay in [0, 1); throws otherwise.
  EMA(const Module& model, double decay);
  double decay() const { return decay_; }
  bool started() const { return !shadow_.empty(); }
  // After an optimizer step. `skip`, a 0-d device flag (nn::StepResult::bad), leaves the average
  // unchanged when non-zero (a skipped non-finite step), without a host read.
  void update(const Tensor* skip = nullptr);
  // Exchanges the average and the live parameters (a no-op before the first update).
  void swap();
  // The average by parameter name (empty before the first update), and back; load checks names
  // and shapes against the model's parameters.
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& sd);

 private:
  std::vector<std::pair<std::string, ag::Var>> params_;
  std::vector<Tensor> shadow_;
  double decay_;
};

// Evaluates with the average for its scope (nothing when ema is null or not started).
class EmaScope {
 public:
  explicit EmaScope(EMA* ema) : ema_(ema && ema->started() ? ema : nullptr) {
    if (ema_) ema_->swap();
  }
  ~EmaScope() {
    if (ema_) ema_->swap();
  }
  EmaScope(const EmaScope&) = delete;
  EmaScope& operator=(const EmaScope&) = delete;

 private:
  EMA* ema_;
};

}  // namespace fg::nn
