// toy2d: trains a RealNVP of MLP couplings (flows/toy2d.h) by maximum likelihood on a standard
// 2-D density (flows/toy_data.h: moons, 8gaussians, checkerboard) and reports the held-out NLL.
//
// Each Adam step draws a fresh batch from the dataset's sampler (seeded by --seed); the test set
// is a fixed 20,000 points drawn with a seed of its own (the same for every --seed, so runs are
// comparable). The test NLL is the mean -log p(x) in nats per sample; for reference the program
// also reports the true density's NLL on the same points (the best any model can do, up to
// sampling noise).
//
// Outputs in --out:
//   <dataset>_density.png       the model's log-density on [-4, 4]^2 (200 x 200 cells, heatmap,
//                               colour scale from max - 8 to max nats)
//   <dataset>_true_density.png  the true log-density on the same grid and scale
//   <dataset>_samples.png       5,000 samples from the model
//   <dataset>_data.png          5,000 samples from the dataset
//   <dataset>_result.json       options, parameter count, training time, train/test NLL
#include "apps/common/cli_parse.h"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/common/heatmap.h"
#include "apps/common/plot.h"
#include "flows/toy2d.h"
#include "flows/toy_data.h"
#include "nn/atomic_file.h"
#include "nn/optim.h"

using namespace fg;
using namespace fg::app;
using fg::ag::Var;

namespace {

struct Options {
  std::string dataset, out = "runs/toy2d";
  int64_t steps = 3000, batch = 256, layers = 8, hidden = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t test_size = 20000, samples = 5000, grid = 200;
  int threads = 0;
};

constexpr double kExtent = 4.0;       // plots cover [-4, 4]^2
constexpr double kColourRange = 8.0;  // heatmap colour scale: [max - 8, max] nats

bool parse_options(int argc, char** argv, Options& o, int& exit_code) {
  CLI::App app{"toy2d: train a RealNVP (MLP affine couplings) on a 2-D toy density and plot it.\n"
               "Outputs in --out: <dataset>_density.png, <dataset>_true_density.png, <dataset>_samples.png,\n"
               "<dataset>_data.png, <dataset>_result.json."};
  app.set_help_flag("-h,--help", "print this help and exit");
  app.add_option("--dataset", o.dataset, "moons, 8gaussians or checkerboard")
      ->required()
      ->check(CLI::IsMember(flows::toy2d_names()));
  app.add_option("--steps", o.steps, "Adam steps (one fresh batch each)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", o.batch, "batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--layers", o.layers, "coupling layers (alternating coordinate)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--hidden", o.hidden, "hidden units of each coupling MLP (2 hidden layers)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lr", o.lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", o.seed, "seed for initialization and training batches")->capture_default_str();
  app.add_option("--out", o.out, "output directory")->capture_default_str();
  app.add_option("--test-size", o.test_size, "held-out points for the test NLL")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--samples", o.samples, "points in the scatter plots")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--grid", o.grid, "density grid resolution per axis")->check(CLI::Range(2, 2000))->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  if (!parse_cli(app, argc, argv, "toy2d", exit_code)) return false;
  return true;
}

// Log-density of `logp` (x [N, 2] -> [N]) on the plot grid.
Grid2D density_grid(int64_t n, const std::function<Tensor(const Tensor&)>& logp) {
  Grid2D g;
  g.nx = g.ny = n;
  g.x0 = g.y0 = -kExtent + kExtent / n;  // centres of n x n cells tiling [-4, 4]^2
  g.x1 = g.y1 = kExtent - kExtent / n;
  std::vector<double> pts;
  pts.reserve(2 * n * n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < n; ++i) {
      pts.push_back(g.x(i));
      pts.push_back(g.y(j));
    }
  g.values = logp(from_vector(pts, {n * n, 2})).to_vector<double>();
  return g;
}

double finite_max(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double a : v)
    if (std::isfinite(a)) m = std::max(m, a);
  return m;
}

bool scatter(const std::string& path, const Tensor& pts, const std::string& title) {
  auto v = pts.to_vector<double>();
  Series s{"", {}, {}, "points pt 7 ps 0.3 lc rgb '#1f77b4'"};
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    s.x.push_back(v[i]);
    s.y.push_back(v[i + 1]);
  }
  PlotSpec spec{title, "x1", "x2", false, 700, 700,
                fmt::format("set size ratio -1\nset xrange [{0}:{1}]\nset yrange [{0}:{1}]\nunset key", -kExtent, kExtent)};
  return plot_png(path, {s}, spec);
}

int run(const Options& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  flows::Toy2D ds = flows::parse_toy2d(o.dataset);
  std::filesystem::create_directories(o.out);
  std::string prefix = o.out + "/" + o.dataset;

  manual_seed(o.seed);  // initialization
  flows::RealNVP2D model(o.layers, o.hidden);
  nn::Adam opt(model.parameters(), o.lr);
  Generator data_gen(o.seed + 0x5eed0000ull);                // training batches
  Generator test_gen(0x7e57ull + static_cast<uint64_t>(ds));  // the fixed held-out set
  Tensor test = flows::sample_toy2d(ds, o.test_size, &test_gen);
  std::fprintf(stderr, "toy2d: %s, RealNVP2D %ld couplings x %ld hidden, %ld parameters\n", o.dataset.c_str(),
               static_cast<long>(o.layers), static_cast<long>(o.hidden), static_cast<long>(model.num_parameters()));

  Progress progress("train " + o.dataset, o.steps, std::max<int64_t>(1, o.steps / 20));
  auto t0 = std::chrono::steady_clock::now();
  double ema = NAN, last_sum = 0;
  int64_t last_n = 0;
  for (int64_t step = 1; step <= o.steps; ++step) {
    Tensor x = flows::sample_toy2d(ds, o.batch, &data_gen);
    Var loss = model.nll(Var(x));
    opt.zero_grad();
    loss.backward();
    opt.step();
    double l = loss.item();
    FG_CHECK(std::isfinite(l), "training diverged at step {} (loss {}); try a lower --lr", step, l);
    ema = std::isnan(ema) ? l : 0.98 * ema + 0.02 * l;
    if (step > o.steps - 100) {
      last_sum += l;
      ++last_n;
    }
    progress.update(step, fmt::format("nll {:.4f}", ema));
  }
  double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish(fmt::format("nll {:.4f}", ema));

  model.eval();
  double test_nll = model.mean_nll(test);
  double true_nll = 0;
  for (double v : flows::toy2d_log_prob(ds, test).to_vector<double>()) true_nll -= v / o.test_size;
  double entropy = flows::toy2d_entropy(ds);

  // plots
  auto model_logp = [&](const Tensor& x) {
    ag::NoGradGuard ng;
    return model.log_prob(Var(x.to(model.dtype()))).value();
  };
  Grid2D dens = density_grid(o.grid, model_logp);
  Grid2D truth = density_grid(o.grid, [&](const Tensor& x) { return flows::toy2d_log_prob(ds, x); });
  double hi = std::max(finite_max(dens.values), finite_max(truth.values));
  PlotSpec hs{"", "x1", "x2", false, 760, 700, ""};
  hs.title = fmt::format("{}: RealNVP log-density (test NLL {:.3f} nats)", o.dataset, test_nll);
  heatmap_png(prefix + "_density.png", dens, hi - kColourRange, hi, hs);  // bare image without gnuplot
  hs.title = fmt::format("{}: true log-density (NLL {:.3f} nats)", o.dataset, true_nll);
  heatmap_png(prefix + "_true_density.png", truth, hi - kColourRange, hi, hs);
  std::vector<std::string> files{prefix + "_density.png", prefix + "_true_density.png"};
  Generator sample_gen(o.seed + 0x5a3e0000ull), data_plot_gen(o.seed + 0xda7a0000ull);
  if (scatter(prefix + "_samples.png", model.sample(o.samples, &sample_gen), o.dataset + ": RealNVP samples"))
    files.push_back(prefix + "_samples.png");  // scatter plots need gnuplot
  if (scatter(prefix + "_data.png", flows::sample_toy2d(ds, o.samples, &data_plot_gen), o.dataset + ": data"))
    files.push_back(prefix + "_data.png");
  files.push_back(prefix + "_result.json");

  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j{{"dataset", o.dataset},
                   {"model", "RealNVP2D"},
                   {"layers", o.layers},
                   {"hidden", o.hidden},
                   {"parameters", model.num_parameters()},
                   {"steps", o.steps},
                   {"batch", o.batch},
                   {"lr", o.lr},
                   {"seed", o.seed},
                   {"train_seconds", train_s},
                   {"train_nll_last100", num(last_sum / std::max<int64_t>(1, last_n))},
                   {"test_size", o.test_size},
                   {"test_nll", num(test_nll)},
                   {"true_density_test_nll", num(true_nll)},
                   {"entropy", num(entropy)},
                   {"units", "nats per sample"},
                   {"files", files}};
  nn::atomic_write_file(prefix + "_result.json", j.dump(2) + "\n");

  std::printf("%s: test NLL %.4f nats/sample (%ld held-out points); true density %.4f; %ld steps in %.1f s\n",
              o.dataset.c_str(), test_nll, static_cast<long>(o.test_size), true_nll, static_cast<long>(o.steps),
              train_s);
  for (const auto& f : files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int code = 0;
  try {
    if (!parse_options(argc, argv, o, code)) return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "toy2d: %s (see --help)\n", e.what());
    return 2;
  }
  return run_main("toy2d", [&] { return run(o); });
}
