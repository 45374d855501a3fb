// train_mnist's options. Defaults reproduce the tutorial's recipe: Adam 1e-3, StepLR 0.99 per
// epoch, batch 128, gradient clipping at 1.0, 50k/10k split with a fixed seed, 200 epochs,
// best checkpoint by validation bpd, test bpd with 8 importance samples.
#pragma once
#include <string>

#include "apps/common/cli_parse.h"
#include "flowgrad/flows/models.h"

namespace fg::app {

struct TrainOptions {
  flows::ModelConfig model;
  int64_t epochs = 200, batch = 128;
  double lr = 1e-3, lr_decay = 0.99, clip = 1.0;
  double ema = 0;                // > 0: EMA decay of the weights used for validation, sampling and the test
  bool init_class_priors = false;  // start the class priors at the data's class means (else N(0, I))
  double beta2 = 0.999;          // Adam's second-moment decay (residual-flows uses 0.99)
  int64_t warmup = 0;            // steps of linear learning-rate warm-up (residual-flows: 1000)
  uint64_t seed = 42;
  std::string data, out, resume, eval_only, device = "cpu";
  int threads = 0;               // 0: OMP_NUM_THREADS or all cores
  int64_t max_steps = 0;         // 0: no limit
  double time_limit_s = 0;       // 0: no limit
  int64_t val_every = 0;         // steps between validations; 0: once per epoch
  int64_t save_every = 0;        // steps between last.safetensors writes besides validations (0: none)
  int64_t val_batches = 0;       // 0: the whole validation set
  int64_t test_batches = 0;      // 0: the whole test set
  int64_t log_every = 10;        // steps between metrics lines
  int64_t sample_count = 16;     // images in each sample grid
  int64_t train_size = 50000;    // the rest of the 60k training images are validation
  bool test = true;              // evaluate on the test set at the end
  // flow matching: the ODE solve of the sample grids and the likelihood
  std::string sample_solver = "dopri5";
  int64_t sample_steps = 20;     // fixed-step solvers
  double ode_tol = 1e-5;         // the sampling solve's dopri5 atol = rtol
  DistCli dist;                  // under mpirun: --dist-timeout, --bucket-mb
  double bpd_tol = 1e-4;         // the likelihood solve's atol = rtol (docs/results/cnf-cost.md)
};

// Parses argv; prints help and exits 0 for --help; throws fg::Error (exit 2 in main) on bad input.
// Returns false when the program should exit right away with `exit_code`.
bool parse_train_options(int argc, char** argv, TrainOptions& o, int& exit_code);

}  // namespace fg::app
