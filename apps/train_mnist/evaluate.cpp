#include "apps/train_mnist/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/dist/shard.h"
#include "flowgrad/nn/data_loader.h"

namespace fg::app {

namespace {
// The mean of per_batch over the first batches of `data`. Under mpirun each rank computes its rows
// of every batch (draws keyed by the global index, as in training) and the sums are reduced once
// at the end: every rank returns the mean a single process would (to float rounding).
template <class F>
double batch_mean(const nn::MnistData& data, int64_t batch, int64_t max_batches, const std::string& label, F&& per_batch) {
  ag::NoGradGuard ng;
  dist::Communicator& comm = dist::world();
  const int64_t batches = (data.size() + batch - 1) / batch;
  const int64_t total = max_batches > 0 ? std::min(max_batches, batches) : batches;
  // the batches used (a partial last batch only when it is used: set_shard checks it has a row per rank)
  const bool part = total < batches;
  nn::DataLoader loader(part ? slice(data.images, 0, 0, total * batch) : data.images,
                        part && data.labels.defined() ? slice(data.labels, 0, 0, total * batch) : data.labels, batch,
                        false, false, 0);
  loader.set_shard(comm.rank(), comm.size());
  Progress bar(label, total);
  double sum = 0;
  int64_t n = 0, done = 0;
  for (const nn::Batch& b : loader) {
    dist::ShardedStep shard(comm, b.global_rows);
    sum += per_batch(b.images, b.labels) * static_cast<double>(b.images.size(0));
    n += b.images.size(0);
    bar.update(++done, fmt::format("{:.4f}", sum / n));
  }
  std::vector<double> all{sum, static_cast<double>(n)};
  comm.allreduce(all, dist::ReduceOp::Sum, label + " sums");
  bar.finish(fmt::format("{:.4f} over {} images", all[0] / all[1], static_cast<int64_t>(all[1])));
  return all[0] / all[1];
}
}  // namespace

double mean_loss(flows::ImageModel& model, const nn::MnistData& data, int64_t batch, int64_t max_batches,
                 const std::string& label) {
  return batch_mean(data, batch, max_batches, label, [&](const Tensor& imgs, const Tensor& labels) {
    return model.cond_loss(imgs, labels_for(model, labels)).item();
  });
}

BpdEstimate mean_test_bpd(flows::ImageModel& model, const nn::MnistData& data, int64_t batch, int64_t max_batches,
                          int samples, const std::string& label) {
  // per image: sum and sum of squares in double, for the standard error over images
  double s1 = 0, s2 = 0;
  const auto t0 = std::chrono::steady_clock::now();
  BpdEstimate e;
  e.mean = batch_mean(data, batch, max_batches, label, [&](const Tensor& imgs, const Tensor& labels) {
    auto v = model.cond_test_bpd(imgs, samples, labels_for(model, labels)).to_vector<double>();
    double b = 0;
    for (double x : v) s1 += x, s2 += x * x, b += x;
    e.images += static_cast<int64_t>(v.size());
    return b / static_cast<double>(v.size());
  });
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> moments{s1, s2, static_cast<double>(e.images)};  // over all ranks' images
  dist::world().allreduce(moments, dist::ReduceOp::Sum, label + " moments");
  s1 = moments[0], s2 = moments[1], e.images = static_cast<int64_t>(moments[2]);
  if (e.images > 1) {
    const double n = static_cast<double>(e.images), var = std::max(0.0, (s2 - s1 * s1 / n) / (n - 1));
    e.se = std::sqrt(var / n);
  }
  return e;
}

Tensor generate_grid(flows::ImageModel& model, int64_t n, const flows::SampleOptions& o) {
  if (model.num_classes() == 0) return model.generate(n, o);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = static_cast<int32_t>(i % model.num_classes());
  Tensor labels = from_vector(y, {n});
  return model.cond_generate(n, o, &labels);
}

ClassifierResult evaluate_classifier(flows::ImageModel& model, const nn::MnistData& data, int64_t batch,
                                     int64_t max_batches, int samples) {
  ag::NoGradGuard ng;
  const double k = static_cast<double>(model.num_classes());
  const double per_dim = 1.4426950408889634 / static_cast<double>(numel(model.image_shape()));
  double cond = 0, uncond = 0;
  int64_t correct = 0, n = 0;
  batch_mean(data, batch, max_batches, "  classify", [&](const Tensor& imgs, const Tensor& labels) {
    Tensor ll = model.class_log_probs(imgs, samples).to(DType::F64).to(Device::cpu()).contiguous();  // [B, K]
    Tensor lse = logsumexp(ll, {1});
    const double* l = ll.data<double>();
    const uint8_t* y = labels.data<uint8_t>();
    const int64_t b = imgs.size(0), kk = ll.size(1);
    int64_t right = 0;
    for (int64_t i = 0; i < b; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < kk; ++c)
        if (l[i * kk + c] > l[i * kk + best]) best = c;
      right += best == y[i];
      cond += -l[i * kk + y[i]] * per_dim;
      uncond += -(lse.data<double>()[i] - std::log(k)) * per_dim;
    }
    n += b;
    correct += right;
    return static_cast<double>(right) / static_cast<double>(b);  // the bar shows the running accuracy
  });
  std::vector<double> sums{cond, uncond, static_cast<double>(correct), static_cast<double>(n)};  // over all ranks
  dist::world().allreduce(sums, dist::ReduceOp::Sum, "classifier sums");
  cond = sums[0], uncond = sums[1], correct = static_cast<int64_t>(sums[2]), n = static_cast<int64_t>(sums[3]);
  ClassifierResult r;
  r.images = n;
  if (n > 0) {
    r.cond_bpd = cond / static_cast<double>(n);
    r.uncond_bpd = uncond / static_cast<double>(n);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  }
  return r;
}

flows::SampleOptions sample_options(const TrainOptions& o) {
  flows::SampleOptions so;
  so.solver.method = flows::ode::parse_method(o.sample_solver);
  so.solver.steps = o.sample_steps;
  so.solver.atol = so.solver.rtol = o.ode_tol;
  return so;
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

void time_model(flows::ImageModel& model, bool fm, const nn::MnistData& test, const TrainOptions& o, EvalResult& r) {
  ag::NoGradGuard ng;
  Tensor imgs = slice(test.images, 0, 0, std::min<int64_t>(64, test.size()));
  const int reps = fm ? 1 : 5;
  flows::SampleOptions so = sample_options(o);
  so.nfe = &r.sample_nfe;
  Tensor labels = slice(test.labels, 0, 0, imgs.size(0)).contiguous();
  const Tensor* y = labels_for(model, labels);
  model.cond_test_bpd(imgs, 1, y);  // warm-up (oneDNN plans)
  synchronize(model.parameters()[0].device());
  r.inference_ms_64 = median_ms(reps, [&] {
    model.cond_test_bpd(imgs, 1, y);
    synchronize(model.parameters()[0].device());
  });
  generate_grid(model, 64, so);
  synchronize(model.parameters()[0].device());
  r.sampling_ms_64 = median_ms(fm ? 1 : 3, [&] {
    generate_grid(model, 64, so);
    synchronize(model.parameters()[0].device());
  });
  r.family = model.family();
  if (fm) r.solver = flows::ode::method_name(so.solver.method);
}

void print_results_table(const EvalResult& r) {
  std::printf("\n| %-12s | %-9s | %-9s | %-16s | %-16s | %-10s |\n", "Model", "Val bpd", "Test bpd", "Inference (64)",
              "Sampling (64)", "Params");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(14, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str(), std::string(18, '-').c_str(), std::string(18, '-').c_str(),
              std::string(12, '-').c_str());
  std::printf("| %-12s | %9.4f | %9.4f | %13.1f ms | %13.1f ms | %10ld |\n", r.model.c_str(), r.val_bpd, r.test_bpd,
              r.inference_ms_64, r.sampling_ms_64, static_cast<long>(r.params));
  if (std::isfinite(r.test_bpd_se))
    std::printf("(test bpd %.4f +- %.4f (standard error over images) over %ld images with %d importance samples, "
                "%.1f s)\n", r.test_bpd, r.test_bpd_se, static_cast<long>(r.test_images), r.import_samples,
                r.test_bpd_seconds);
  else
    std::printf("(test bpd over %ld images with %d importance samples)\n", static_cast<long>(r.test_images),
                r.import_samples);
  if (!r.conditional.empty())
    std::printf("class-conditional (%s): conditional bpd -log2 p(x|y)/D %.4f, unconditional bpd (log p(x) = "
                "logsumexp_y log p(x|y) - log 10) %.4f, classifier accuracy argmax_y log p(x|y) %.4f\n",
                r.conditional.c_str(), r.test_bpd, r.uncond_bpd, r.accuracy);
  if (!r.solver.empty())
    std::printf("(flow matching: sampling by %s, %ld function evaluations; likelihood by dopri5 with Hutchinson's "
                "divergence at atol = rtol = %g, the log-density's error per dimension, %ld evaluations per batch)\n",
                r.solver.c_str(), static_cast<long>(r.sample_nfe), r.bpd_tol, static_cast<long>(r.bpd_nfe));
  std::printf("\n");
}

void save_results_json(const std::string& path, const EvalResult& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j{{"model", r.model},       {"val_bpd", num(r.val_bpd)},
                   {"test_bpd", num(r.test_bpd)}, {"inference_ms_per_64", num(r.inference_ms_64)},
                   {"sampling_ms_per_64", num(r.sampling_ms_64)}, {"params", r.params},
                   {"test_bpd_se", num(r.test_bpd_se)}, {"test_bpd_seconds", num(r.test_bpd_seconds)},
                   {"test_images", r.test_images}, {"import_samples", r.import_samples},
                   {"family", r.family}};
  if (!r.conditional.empty()) {
    j["conditional"] = r.conditional;
    j["test_bpd_unconditional"] = num(r.uncond_bpd);
    j["test_accuracy"] = num(r.accuracy);
  }
  if (!r.solver.empty()) {
    j["sample_solver"] = r.solver;
    j["sample_nfe"] = r.sample_nfe;
    j["bpd_nfe_per_batch"] = r.bpd_nfe;
    j["bpd_tol"] = r.bpd_tol;
    j["bpd_error_control"] = "per dimension";  // flows::CnfOptions::per_dim_error
  }
  nn::atomic_write_file(path, j.dump(2) + "\n");
}

}  // namespace fg::app
