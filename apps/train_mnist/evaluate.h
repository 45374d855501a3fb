// Final evaluation: test bpd with importance sampling, inference and sampling time per batch of
// 64, parameter count; printed as the tutorial's table and saved as JSON.
#pragma once
#include <string>

#include "flows/image_flow.h"
#include "nn/mnist.h"

namespace fg::app {

struct EvalResult {
  std::string model;
  double val_bpd = NAN, test_bpd = NAN;
  double inference_ms_64 = NAN, sampling_ms_64 = NAN;
  int64_t params = 0;
  int64_t test_images = 0;
  int import_samples = 0;
};

// Mean bpd over up to max_batches batches of `data` (0: all); importance-sampled when samples > 0.
double mean_bpd(flows::ImageFlow& model, const nn::MnistData& data, int64_t batch, int64_t max_batches,
                int samples, const std::string& label);
// Timings (median of a few runs) of log-likelihood and sampling for a batch of 64.
void time_model(flows::ImageFlow& model, const nn::MnistData& test, EvalResult& r);
void print_results_table(const EvalResult& r);
void save_results_json(const std::string& path, const EvalResult& r);

}  // namespace fg::app
