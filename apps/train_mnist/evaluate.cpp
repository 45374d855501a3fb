#include "apps/train_mnist/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "nn/atomic_file.h"
#include "nn/data_loader.h"

namespace fg::app {

double mean_bpd(flows::ImageFlow& model, const nn::MnistData& data, int64_t batch, int64_t max_batches, int samples,
                const std::string& label) {
  ag::NoGradGuard ng;
  nn::DataLoader loader(data.images, Tensor(), batch, false, false, 0);
  int64_t total = max_batches > 0 ? std::min(max_batches, loader.num_batches()) : loader.num_batches();
  Progress bar(label, total);
  double sum = 0;
  int64_t n = 0, done = 0;
  for (const nn::Batch& b : loader) {
    if (done == total) break;
    Tensor bpd = samples > 0 ? model.importance_bpd(b.images, samples) : model.log_prob(b.images).value();
    if (samples <= 0) bpd = bpd * (-1.4426950408889634 / static_cast<double>(numel(model.image_shape())));
    sum += fg::sum(bpd).item();
    n += b.images.size(0);
    bar.update(++done, fmt::format("bpd {:.4f}", sum / n));
  }
  bar.finish(fmt::format("bpd {:.4f} over {} images", sum / n, n));
  return sum / n;
}

namespace {
template <class F>
double median_ms(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

void time_model(flows::ImageFlow& model, const nn::MnistData& test, EvalResult& r) {
  ag::NoGradGuard ng;
  Tensor imgs = slice(test.images, 0, 0, std::min<int64_t>(64, test.size()));
  model.log_prob(imgs);  // warm-up (oneDNN plans)
  r.inference_ms_64 = median_ms(5, [&] { model.log_prob(imgs); });
  model.sample(64);
  r.sampling_ms_64 = median_ms(3, [&] { model.sample(64); });
}

void print_results_table(const EvalResult& r) {
  std::printf("\n| %-12s | %-9s | %-9s | %-16s | %-16s | %-10s |\n", "Model", "Val bpd", "Test bpd", "Inference (64)",
              "Sampling (64)", "Params");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(14, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str(), std::string(18, '-').c_str(), std::string(18, '-').c_str(),
              std::string(12, '-').c_str());
  std::printf("| %-12s | %9.4f | %9.4f | %13.1f ms | %13.1f ms | %10ld |\n", r.model.c_str(), r.val_bpd, r.test_bpd,
              r.inference_ms_64, r.sampling_ms_64, static_cast<long>(r.params));
  std::printf("(test bpd over %ld images with %d importance samples)\n\n", static_cast<long>(r.test_images),
              r.import_samples);
}

void save_results_json(const std::string& path, const EvalResult& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j{{"model", r.model},       {"val_bpd", num(r.val_bpd)},
                   {"test_bpd", num(r.test_bpd)}, {"inference_ms_per_64", num(r.inference_ms_64)},
                   {"sampling_ms_per_64", num(r.sampling_ms_64)}, {"params", r.params},
                   {"test_images", r.test_images}, {"import_samples", r.import_samples}};
  nn::atomic_write_file(path, j.dump(2) + "\n");
}

}  // namespace fg::app
