// flowgrad dequant-hist: the learned dequantization distribution (the tutorial's
// visualize_dequant_distribution). A batch of training images goes through the model's first flow
// only (the uniform or variational dequantization) `draws` times. Outputs, for PREFIX:
//   PREFIX.csv/.png        v = 256 * unsqueeze(sigmoid(output)) in [0, 256), 256 unit bins
//                          (the dequantized pixel values; bin k holds x = k plus its noise)
//   PREFIX_frac.csv/.png   the noise u = v - floor(v) in [0, 1), --frac-bins bins: flat for uniform
//                          dequantization, shaped by q(u|x) for the variational one
//   PREFIX_logit.csv/.png  the flow's raw output (logit space) in 256 bins over its range, density:
//                          exactly the tutorial's plot
// and prints the mean/std of u and its KL divergence from U[0, 1) (over the --frac-bins bins).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "apps/common/cli.h"
#include "flowgrad/train/plot.h"
#include "apps/flowgrad/common.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/tensor/ops.h"

namespace fg::app::cmd {

namespace {

using ag::Var;

struct DequantOptions {
  CommonOptions common;
  std::string checkpoint, data, prefix = "dequant";
  int64_t images = 16, draws = 16;
  int frac_bins = 50;
};

struct Histogram {
  double lo, hi;
  std::vector<int64_t> counts;
  int64_t total = 0;
  Histogram(double l, double h, int bins) : lo(l), hi(h), counts(static_cast<size_t>(bins), 0) {}
  double width() const { return (hi - lo) / static_cast<double>(counts.size()); }
  void add(double v) {
    auto b = static_cast<int64_t>(std::floor((v - lo) / width()));
    b = std::clamp<int64_t>(b, 0, static_cast<int64_t>(counts.size()) - 1);
    ++counts[static_cast<size_t>(b)];
    ++total;
  }
  double density(size_t i) const { return total ? counts[i] / (static_cast<double>(total) * width()) : 0.0; }
};

// bin = the bin's left edge
void write_csv(const std::string& path, const Histogram& h) {
  std::string s = "bin,count,density\n";
  for (size_t i = 0; i < h.counts.size(); ++i)
    s += fmt::format("{},{},{}\n", h.lo + static_cast<double>(i) * h.width(), h.counts[i], h.density(i));
  nn::atomic_write_file(path, s);
}

bool write_plot(const std::string& path, const Histogram& h, const std::string& title, const std::string& xlabel,
                bool logy) {
  Series s{title, {}, {}, "boxes"};
  for (size_t i = 0; i < h.counts.size(); ++i) {
    double d = h.density(i);
    if (logy && d <= 0) continue;
    s.x.push_back(h.lo + (static_cast<double>(i) + 0.5) * h.width());
    s.y.push_back(d);
  }
  PlotSpec spec{title, xlabel, "density", logy, 1100, 360,
                fmt::format("set style fill transparent solid 0.5 border\nset boxwidth {} absolute\n"
                            "set xrange [{}:{}]\nset key off\nset termoption noenhanced\n{}",
                            h.width(), h.lo, h.hi, logy ? "set format y '%g'\n" : "")};
  return plot_png(path, {s}, spec);
}

int run_dequant_hist(const DequantOptions& o) {
  Device dev = setup_runtime(o.common);
  flows::LoadedModel lm = load_checkpoint_model(o.checkpoint, dev);
  flows::ImageFlow& flow = lm.flow("dequant-hist");
  flows::Dequantization* deq = &flow.dequantization();
  const bool variational = deq->variational();
  nn::MnistData train = load_split(o.data, "train");
  Tensor imgs = gather_images(train.images, pick_indices(train.size(), o.images, o.common.seed)).to(dev);

  ag::NoGradGuard ng;
  // The alpha squeeze y = x (1 - alpha) + alpha / 2 of the model's logit: logit(0) = logit(alpha / 2).
  double alpha;
  {
    Var z(zeros({1, 1}, DType::F64)), ldj(zeros({1}, DType::F64));
    deq->logit(z, ldj);
    alpha = 2.0 / (1.0 + std::exp(-z.value().item()));
  }
  Generator gen(o.common.seed);
  Generator* saved = deq->generator;
  deq->generator = &gen;
  std::vector<double> logits;
  logits.reserve(static_cast<size_t>(o.draws * imgs.numel()));
  Progress prog("dequant-hist", o.draws, std::max<int64_t>(1, o.draws / 10));
  for (int64_t d = 0; d < o.draws; ++d) {
    Var z(imgs), ldj(zeros({imgs.size(0)}, flow.dtype(), dev));
    deq->forward(z, ldj);
    std::vector<double> v = z.value().to_vector<double>();
    logits.insert(logits.end(), v.begin(), v.end());
    prog.update(d + 1, "");
  }
  deq->generator = saved;
  prog.finish(fmt::format("{} images x {} draws", o.images, o.draws));

  auto [mn, mx] = std::minmax_element(logits.begin(), logits.end());
  Histogram hv(0, 256, 256), hu(0, 1, o.frac_bins), hl(*mn, *mx > *mn ? *mx : *mn + 1, 256);
  double su = 0, suu = 0;
  for (double l : logits) {
    hl.add(l);
    double v = (1.0 / (1.0 + std::exp(-l)) - 0.5 * alpha) / (1.0 - alpha) * 256.0;
    v = std::clamp(v, 0.0, std::nextafter(256.0, 0.0));
    hv.add(v);
    double u = v - std::floor(v);
    hu.add(u);
    su += u;
    suu += u * u;
  }
  double n = static_cast<double>(logits.size()), mean = su / n, sd = std::sqrt(std::max(0.0, suu / n - mean * mean));
  double kl = 0;
  for (int64_t c : hu.counts)
    if (c > 0) {
      double p = static_cast<double>(c) / n;
      kl += p * std::log(p * static_cast<double>(hu.counts.size()));
    }

  std::string kind = variational ? "variational dequantization" : "uniform dequantization";
  ensure_parent_dir(o.prefix);
  std::vector<std::string> wrote;
  auto emit = [&](const std::string& base, const Histogram& h, const std::string& title, const std::string& xl,
                  bool logy) {
    write_csv(base + ".csv", h);
    wrote.push_back(base + ".csv");
    if (write_plot(base + ".png", h, title, xl, logy)) wrote.push_back(base + ".png");
  };
  std::string what = fmt::format("{} ({}), {} images x {} draws", kind, lm.config.name, o.images, o.draws);
  emit(o.prefix, hv, "dequantized values 256*v: " + what, "256 * v (pixel value + noise)", true);
  emit(o.prefix + "_frac", hu, "noise u = frac(256*v): " + what, "u", false);
  emit(o.prefix + "_logit", hl, "dequantization output, logit space: " + what,
       "logit((x + u)/256)", false);
  for (auto& p : wrote) report_written(p);
  std::printf("dequant-hist: %s: u mean %.4f std %.4f (uniform: 0.5000 0.2887), KL(u || U[0,1)) %.4f nats "
              "over %d bins, %lld values\n",
              kind.c_str(), mean, sd, kl, o.frac_bins, static_cast<long long>(hu.total));
  return 0;
}

}  // namespace

Command add_dequant_hist_command(CLI::App& root) {
  auto o = std::make_shared<DequantOptions>();
  CLI::App* sub = root.add_subcommand(
      "dequant-hist", "histograms of the learned dequantization distribution (the tutorial's visualization)");
  sub->add_option("--checkpoint", o->checkpoint, "model checkpoint (.safetensors)")->required();
  sub->add_option("--data", o->data, "MNIST directory (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)");
  sub->add_option("--images", o->images, "training images (seeded random choice)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  sub->add_option("--draws", o->draws, "dequantization draws per image")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  sub->add_option("--frac-bins", o->frac_bins, "bins of the noise histogram")
      ->check(CLI::Range(2, 10000))
      ->capture_default_str();
  sub->add_option("--out-prefix", o->prefix, "writes PREFIX.csv/.png, PREFIX_frac.csv/.png, PREFIX_logit.csv/.png")
      ->capture_default_str();
  add_common_options(sub, o->common);
  return {sub, [o] { return run_dequant_hist(*o); }};
}

}  // namespace fg::app::cmd
