// The training loop: Adam + StepLR + clipping on bpd, validation with sample grids, last/best
// checkpoints written atomically, metrics.jsonl, resume from a checkpoint, clean stop on
// SIGINT/SIGTERM, and non-finite losses reported and skipped (never saved).
#pragma once
#include "apps/train_mnist/options.h"
#include "flows/image_flow.h"
#include "nn/mnist.h"

namespace fg::app {

struct TrainOutcome {
  int exit_code = 0;   // 0 done, 130/143 stopped by a signal, 1 failed
  double best_val_bpd = NAN;
  std::string best_checkpoint;  // empty when none was written
};

TrainOutcome train(const TrainOptions& o, const nn::MnistData& train_set, const nn::MnistData& val_set);

}  // namespace fg::app
