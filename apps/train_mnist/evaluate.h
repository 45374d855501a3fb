// Final evaluation: test bpd with importance sampling, inference and sampling time per batch of
// 64, parameter count; printed as the tutorial's table and saved as JSON.
#pragma once
#include <string>

#include "apps/train_mnist/options.h"
#include "flowgrad/flows/image_model.h"
#include "flowgrad/nn/mnist.h"

namespace fg::app {

struct EvalResult {
  std::string model;
  double val_bpd = NAN, test_bpd = NAN;
  double test_bpd_se = NAN, test_bpd_seconds = NAN;  // standard error over the test images; the pass's time
  double bpd_tol = NAN;                               // flow matching: the likelihood solve's atol = rtol
  double inference_ms_64 = NAN, sampling_ms_64 = NAN;
  int64_t params = 0;
  int64_t test_images = 0;
  int import_samples = 0;
  std::string family, solver;  // solver: the ODE solve used for sampling (flow matching)
  int64_t sample_nfe = 0, bpd_nfe = 0;  // flow matching: NFE of one sample solve and of one likelihood solve
  std::string conditional;  // class conditioning, empty when none
  double uncond_bpd = NAN, accuracy = NAN;  // a class-conditional model's (test_bpd is then log p(x | y)'s)
};

// The model's training objective (bpd, or the matching loss) averaged over up to max_batches
// batches of `data` (0: all), without grad.
double mean_loss(flows::ImageModel& model, const nn::MnistData& data, int64_t batch, int64_t max_batches,
                 const std::string& label);
// Test bpd, importance-sampled over `samples` dequantization draws, over up to max_batches batches:
// the mean over images, its standard error (sample std over images / sqrt(n): a cheaper estimate
// from fewer images or a looser solve says how far it can be trusted) and the pass's seconds.
struct BpdEstimate {
  double mean = NAN, se = NAN, seconds = 0;
  int64_t images = 0;
};
BpdEstimate mean_test_bpd(flows::ImageModel& model, const nn::MnistData& data, int64_t batch, int64_t max_batches,
                          int samples, const std::string& label);
// Timings (median of a few runs) of the likelihood (one draw) and of sampling, for a batch of 64.
// fm: the checkpoint's model is flow matching (its own config, not --model: --eval-only takes any)
void time_model(flows::ImageModel& model, bool fm, const nn::MnistData& test, const TrainOptions& o, EvalResult& r);
// n samples; for a class-conditional model, class i % K for sample i (rows of K per class when
// the grid is K wide)
Tensor generate_grid(flows::ImageModel& model, int64_t n, const flows::SampleOptions& o);
// The labels of a conditional model's batch (null for an unconditional model)
inline const Tensor* labels_for(const flows::ImageModel& m, const Tensor& labels) {
  return m.num_classes() > 0 && labels.defined() ? &labels : nullptr;
}
// A class-conditional model as a generative classifier over up to max_batches batches: conditional
// bpd -log2 p(x | y) / D, unconditional bpd with log p(x) = logsumexp_y log p(x | y) - log K, and the
// accuracy of argmax_y log p(x | y).
struct ClassifierResult {
  double cond_bpd = NAN, uncond_bpd = NAN, accuracy = NAN;
  int64_t images = 0;
};
ClassifierResult evaluate_classifier(flows::ImageModel& model, const nn::MnistData& data, int64_t batch,
                                     int64_t max_batches, int samples);
// The sampling settings of the options (the ODE solve of the flow-matching models).
flows::SampleOptions sample_options(const TrainOptions& o);
void print_results_table(const EvalResult& r);
void save_results_json(const std::string& path, const EvalResult& r);

}  // namespace fg::app
