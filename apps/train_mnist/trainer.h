// train_mnist's task for the shared training loop (flowgrad/train/train_loop.h): any image model
// (coupling flows, flow matching) on MNIST batches, validated by its objective on the validation
// images (bpd for the coupling flows, the matching loss for flow matching) with a sample grid.
#pragma once
#include "apps/common/cli.h"
#include "flowgrad/train/train_loop.h"
#include "apps/train_mnist/options.h"
#include "flowgrad/flows/image_model.h"
#include "flowgrad/nn/mnist.h"

namespace fg::app {

struct TrainOutcome {
  int exit_code = 0;   // 0 done, 130/143 stopped by a signal
  double best_val = NAN;
  std::string best_checkpoint;  // empty when none was written
};

TrainOutcome run_training(const TrainOptions& o, const nn::MnistData& train_set, const nn::MnistData& val_set);

}  // namespace fg::app
