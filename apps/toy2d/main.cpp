// toy2d: a 2-D density learned two ways, side by side on the same data.
//   --method realnvp        a RealNVP of MLP couplings (flowgrad/flows/toy2d.h) by maximum likelihood
//   --method resflow        a residual flow (flowgrad/flows/residual/resflow.h: --layers blocks of
//                           LipSwish MLPs of width --hidden, exact 2-D log-dets) by maximum likelihood
//   --method fm|i-cfm|ot-cfm a continuous flow trained by flow matching (torchcfm's MLP velocity
//                           field: 3 x 64 SELU; flows/continuous/), from --source gaussian
//                           (N(0, I)) or 8gaussians to --dataset
//   --protocol c2ot|torchcfm a published protocol's every setting (apps/toy2d/protocol.h): data,
//                           network, optimizer, batches, evaluation and units
// Every step draws a fresh batch from generators derived from (--seed, step), so a stopped run
// resumes exactly; the shared training loop (flowgrad/train/train_loop.h) runs the steps.
//
// Evaluation (fixed seeds, the same for every --seed):
//   - matching methods: W2 by exact EMD between 1,000 generated and 1,000 fresh target points at
//     Euler NFE 1, 2, 10, 100 and adaptive dopri5 (atol = rtol = 1e-4), with its NFE;
//   - Gaussian sources, realnvp and resflow: the test NLL (nats per point; the CNF's by the exact
//     divergence through dopri5) next to the true density's on the same points;
//   - --protocol: the protocol's own evaluation (protocol.h).
// Every W2 comes with its square (w2_X and w2sq_X), n_eval, and the floor (floor_w2, floor_w2sq:
// W2 between two target sets of n_eval points, the value of a perfect model). Prints one JSON
// line on stdout: method, source, dataset, w2[sq]_euler1/2/10/100 (or the protocol's),
// w2[sq]_adaptive, nfe_adaptive, n_eval, floor_w2[sq], nll, true_nll, train_seconds. Writes in
// --out: <tag>_samples.png, <tag>_data.png, <tag>_density.png (log-density heatmap, Gaussian
// sources), <tag>_result.json, metrics.jsonl.
// Under mpirun every rank draws the step's whole (global) batch, OT-CFM's pairing included, and
// trains on its rows of it; rank 0 alone evaluates and writes. --protocol runs in one process.
#include "apps/common/cli_parse.h"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <deque>
#include <future>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/common/heatmap.h"
#include "apps/toy2d/protocol.h"
#include "flowgrad/train/plot.h"
#include "flowgrad/train/train_loop.h"
#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/continuous/cnf.h"
#include "flowgrad/flows/continuous/matching.h"
#include "flowgrad/flows/residual/resflow.h"
#include "flowgrad/flows/toy2d.h"
#include "flowgrad/flows/toy_data.h"
#include "flowgrad/dist/session.h"
#include "flowgrad/dist/shard.h"
#include "flowgrad/nn/atomic_file.h"

using namespace fg;
using namespace fg::app;
using fg::ag::Var;

namespace {

struct Options {
  std::string method = "realnvp", source = "gaussian", dataset, convention, out = "runs/toy2d", protocol = "none";
  int64_t steps = 0, batch = 256, layers = 8, hidden = 64, width = 64;
  double lr = 1e-3, sigma = 0.1, ema = 0;
  uint64_t seed = 0;
  int64_t test_size = 0, eval_points = 1000, samples = 2000, grid = 100;
  int threads = 1;  // 2-D batches are too small to split; the other core prepares OT-CFM's pairings
  std::string resume, device = "cpu";
  bool plots = true;
  DistCli dist;
};

constexpr double kExtent = 4.0;       // plots cover [-extent, extent]^2 (6 for torchcfm's data)
constexpr double kColourRange = 8.0;  // heatmap colour scale: [max - 8, max] nats

bool likelihood_method(const std::string& m) { return m == "realnvp" || m == "resflow"; }

bool parse_options(int argc, char** argv, Options& o, int& exit_code) {
  CLI::App app{"toy2d: learn a 2-D density with a RealNVP (maximum likelihood) or a continuous flow (flow "
               "matching: fm, i-cfm, ot-cfm), then measure it (W2 at several NFE, test NLL) and plot it.\n"
               "Prints one JSON line; writes <tag>_samples.png, <tag>_data.png, <tag>_density.png, "
               "<tag>_result.json in --out."};
  app.set_help_flag("-h,--help", "print this help and exit");
  app.add_option("--method", o.method, "realnvp, resflow, fm, i-cfm or ot-cfm")
      ->check(CLI::IsMember({"realnvp", "resflow", "fm", "i-cfm", "ot-cfm"}))
      ->capture_default_str();
  app.add_option("--protocol", o.protocol,
                 "none, c2ot (C2OT's Fig. 1: 8gaussians -> moons, W2^2 on 10k points) or torchcfm (its runner's "
                 "Table 2 setting: N(0, I) -> --dataset moons, scurve or 8gaussians, W2 on 1k points); fixes the "
                 "data, network, optimizer, batches and evaluation (--steps and --seed still apply)")
      ->check(CLI::IsMember({"none", "c2ot", "torchcfm"}))
      ->capture_default_str();
  app.add_option("--source", o.source, "matching methods: gaussian (N(0, I)) or 8gaussians")
      ->check(CLI::IsMember({"gaussian", "8gaussians"}))
      ->capture_default_str();
  app.add_option("--dataset", o.dataset, "moons, 8gaussians or checkerboard (--protocol torchcfm: moons, scurve or 8gaussians)")
      ->check(CLI::IsMember({"moons", "8gaussians", "checkerboard", "scurve"}));
  app.add_option("--convention", o.convention,
                 "data generators: torchcfm or ffjord (default: torchcfm for the matching methods, ffjord for realnvp and resflow)")
      ->check(CLI::IsMember({"torchcfm", "ffjord"}));
  app.add_option("--steps", o.steps, "Adam steps, one fresh batch each (default 20000 for matching, 3000 realnvp and resflow)")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", o.lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--ema", o.ema, "EMA decay of the weights used for evaluation and sampling (0: off)")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str();
  app.add_option("--sigma", o.sigma, "matching methods: the path's sigma (torchcfm's tutorial: 0.1)")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  app.add_option("--width", o.width, "matching methods: the velocity MLP's width")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--layers", o.layers, "realnvp: coupling layers; resflow: residual blocks")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--hidden", o.hidden, "realnvp, resflow: hidden units of each coupling or residual MLP")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed for initialization and training batches")->capture_default_str();
  app.add_option("--out", o.out, "output directory")->capture_default_str();
  app.add_option("--resume", o.resume, "continue from a checkpoint (<out>/<tag>_last.safetensors)");
  app.add_option("--test-size", o.test_size, "held-out points for the test NLL (default 20000 realnvp and resflow, 2000 CNF)")
      ->check(CLI::PositiveNumber);
  app.add_option("--eval-points", o.eval_points, "points per set for W2 (--protocol c2ot: 10000; fewer for a quick look)")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  app.add_option("--samples", o.samples, "points in the scatter plots")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--grid", o.grid, "density grid resolution per axis")->check(CLI::Range(2, 2000))->capture_default_str();
  app.add_flag("!--no-plots", o.plots, "skip the PNGs (and the density grid)");
  add_device_option(app, o.device);
  app.add_option("--threads", o.threads, "CPU threads for the tensor ops (0: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_dist_options(app, o.dist);
  if (!parse_cli(app, argc, argv, "toy2d", exit_code)) return false;
  if (o.protocol != "none") {
    for (const char* fixed : {"--source", "--convention", "--batch", "--lr", "--sigma", "--width", "--test-size",
                              "--layers", "--hidden"})
      FG_CHECK(app.count(fixed) == 0, "{} is fixed by --protocol {}", fixed, o.protocol);
    FG_CHECK(!likelihood_method(o.method) && (o.protocol == "torchcfm" || o.method != "fm"),
             "--protocol {} trains {}, not --method {}", o.protocol,
             o.protocol == "c2ot" ? "i-cfm (C2OT's 'fm') or ot-cfm" : "fm, i-cfm or ot-cfm", o.method);
    FG_CHECK(o.protocol == "c2ot" || app.count("--eval-points") == 0,
             "--eval-points: torchcfm's runner evaluates on its 1,000 test points");
    if (app.count("--eval-points") == 0) o.eval_points = 0;  // the protocol's (c2ot: 10,000)
    if (o.protocol == "c2ot") {
      FG_CHECK(o.dataset.empty() || o.dataset == "moons", "--protocol c2ot maps 8gaussians to moons, not {}", o.dataset);
      o.dataset = "moons";
      o.source = "8gaussians";
      o.convention = "torchcfm";
      o.sigma = 0;
      o.lr = 3e-4;
      o.batch = toy2d::C2otBatches::kBatch;
    } else {
      FG_CHECK(!o.dataset.empty(), "--protocol torchcfm needs --dataset (moons, scurve or 8gaussians)");
      flows::parse_runner_data(o.dataset);
      o.source = "gaussian";
      o.convention = "torchcfm-runner";
      o.sigma = 0.1;
      o.lr = 1e-3;
      o.batch = toy2d::RunnerBatches::kBatch;
    }
    if (o.steps == 0) o.steps = 20000;
    return true;
  }
  FG_CHECK(!o.dataset.empty(), "--dataset is required");
  FG_CHECK(o.dataset != "scurve", "--dataset scurve is torchcfm's runner's (--protocol torchcfm)");
  const bool matching = !likelihood_method(o.method);
  if (o.convention.empty()) o.convention = matching ? "torchcfm" : "ffjord";
  if (o.steps == 0) o.steps = matching ? 20000 : 3000;
  if (o.test_size == 0) o.test_size = matching ? 2000 : 20000;
  FG_CHECK(matching || o.source == "gaussian", "--source {}: {}'s source is its N(0, I) prior", o.source, o.method);
  return true;
}

using toy2d::mix;

struct Data {
  flows::Toy2D target;
  flows::ToyConvention conv;
  bool gaussian_source;
  Tensor target_batch(int64_t n, Generator* g) const { return flows::sample_toy2d(target, n, g, DType::F32, conv); }
  Tensor source_batch(int64_t n, Generator* g) const {
    return gaussian_source ? randn({n, 2}, DType::F32, Device::cpu(), g)
                           : flows::sample_toy2d(flows::Toy2D::EightGaussians, n, g, DType::F32, conv);
  }
};

// Batches are drawn on the host (the same points whatever the device) and moved to `dev`.
class Toy2DTask : public Task {
 public:
  Toy2DTask(const Options& o, const Data& d, Device dev) : o_(o), d_(d), dev_(dev) {
    manual_seed(o.seed);  // initialization
    if (o.method == "realnvp") {
      density_ = std::make_shared<flows::RealNVP2D>(o.layers, o.hidden);
    } else if (o.method == "resflow") {
      density_ = std::make_shared<flows::ResFlow2D>(static_cast<int>(o.layers), o.hidden);
    } else {
      matcher_ = flows::parse_matcher(o.method);
      field_ = std::make_shared<flows::MLPVelocity>(2, o.width);
    }
    model().to(dev);
  }
  nn::Module& model() override { return density_ ? static_cast<nn::Module&>(*density_) : *field_; }
  std::string config_json() const override {
    return nlohmann::json{{"method", o_.method}, {"source", o_.source}, {"dataset", o_.dataset},
                          {"convention", o_.convention}, {"batch", o_.batch}, {"sigma", o_.sigma},
                          {"layers", o_.layers}, {"hidden", o_.hidden}, {"width", o_.width}, {"seed", o_.seed}}
        .dump();
  }
  int64_t global_batch() const override { return o_.batch; }
  Var loss(int64_t, int64_t, int64_t step) override {
    if (density_) {
      Generator g(mix(o_.seed, static_cast<uint64_t>(step)));
      return density_->nll(Var(mine(d_.target_batch(o_.batch, &g)).to(dev_)));
    }
    // The step's path sample (for OT-CFM, with the exact pairing) depends only on (seed, step):
    // the next steps' are prepared on other threads while this step trains. OT-CFM's pairings run
    // in two chains (even and odd steps), each step warm-started from the duals of its chain's
    // previous batch: the same exact assignment, found in about 0.6 of a cold solve's time.
    while (!ahead_.empty() && ahead_.front().first != step) ahead_.pop_front();
    flows::PathSample s = ahead_.empty() ? prepare(step) : ahead_.front().second.get();
    if (!ahead_.empty()) ahead_.pop_front();
    s = {mine(s.t).to(dev_), mine(s.xt).to(dev_), mine(s.ut).to(dev_)};
    const int64_t depth = 2;  // two steps ahead: with two cores, both work on pairings while this one trains
    for (int64_t n = ahead_.empty() ? step + 1 : ahead_.back().first + 1; n <= step + depth; ++n)
      ahead_.emplace_back(n, std::async(std::launch::async, [this, n, prev = chain_prev()] {
                            if (prev.valid()) prev.wait();
                            return prepare(n);
                          }).share());
    return flows::matching_loss(*field_, s);
  }
  ~Toy2DTask() override {
    for (auto& [n, f] : ahead_) f.wait();
  }
  Evaluation validate(int64_t, int64_t) override { return {}; }  // measured once, at the end
  flows::DensityFlow* density() { return density_.get(); }
  flows::MLPVelocity* field() { return field_.get(); }

 private:
  // This rank's rows of a global batch (the loop's ShardedStep says which; all of it for one rank).
  static Tensor mine(const Tensor& global) {
    const dist::BatchSplit& s = dist::ShardedStep::current()->split();
    return s.rows == global.size(0) ? global : slice(global, 0, s.first, s.first + s.rows);
  }
  // the step OT-CFM's next pairing waits for: the one two steps back, which used the same OtPairing
  // (none for the other methods, whose steps are independent)
  std::shared_future<flows::PathSample> chain_prev() const {
    return matcher_ == flows::Matcher::OTCFM && ahead_.size() >= 2 ? ahead_[ahead_.size() - 2].second
                                                                   : std::shared_future<flows::PathSample>();
  }
  flows::PathSample prepare(int64_t step) {
    ag::NoGradGuard ng;
    Generator g(mix(o_.seed, static_cast<uint64_t>(step)));
    Tensor x1 = d_.target_batch(o_.batch, &g);
    Tensor x0 = d_.gaussian_source && matcher_ == flows::Matcher::FM ? Tensor() : d_.source_batch(o_.batch, &g);
    return flows::sample_path(matcher_, x0, x1, o_.sigma, &g, &pairing_[step % 2]);
  }
  std::deque<std::pair<int64_t, std::shared_future<flows::PathSample>>> ahead_;
  flows::OtPairing pairing_[2];  // the chains of even and odd steps, each used by one step at a time
  const Options& o_;
  Data d_;
  Device dev_;
  flows::Matcher matcher_ = flows::Matcher::ICFM;
  std::shared_ptr<flows::DensityFlow> density_;
  std::shared_ptr<flows::MLPVelocity> field_;
};

// Log-density of `logp` (x [N, 2] -> [N]) on the plot grid.
Grid2D density_grid(int64_t n, double extent, const std::function<Tensor(const Tensor&)>& logp) {
  Grid2D g;
  g.nx = g.ny = n;
  g.x0 = g.y0 = -extent + extent / n;  // centres of n x n cells tiling [-extent, extent]^2
  g.x1 = g.y1 = extent - extent / n;
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

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

int run(const Options& o, dist::Session& session) {
  if (o.threads > 0) set_num_threads(o.threads);
  const Device dev = session.use_device(open_device(o.device));
  const bool lead = dist::world().rank() == 0;
  if (o.protocol != "none") {
    FG_CHECK(dist::world().size() == 1, "--protocol {} runs in one process (this is rank {} of {})", o.protocol,
             dist::world().rank(), dist::world().size());
    return toy2d::run_protocol(
        {o.protocol, o.method, o.dataset, o.out, o.resume, o.steps, o.seed, o.ema, o.eval_points, o.plots, dev});
  }
  Data d{flows::parse_toy2d(o.dataset), flows::parse_toy_convention(o.convention), o.source == "gaussian"};
  const bool matching = !likelihood_method(o.method);
  // realnvp keeps its historical <dataset> tag; every other method's files carry its name
  const std::string tag = matching                ? fmt::format("{}_{}_{}", o.method, o.source, o.dataset)
                          : o.method == "realnvp" ? o.dataset
                                                  : fmt::format("{}_{}", o.method, o.dataset);
  const std::string prefix = o.out + "/" + tag;
  const double extent = d.conv == flows::ToyConvention::TorchCFM ? 7.0 : kExtent;
  if (lead) std::filesystem::create_directories(o.out);

  Toy2DTask task(o, d, dev);
  nn::Adam opt(task.model().parameters(), o.lr);
  if (lead)
    std::fprintf(stderr, "toy2d: %s, %s -> %s (%s data), %ld parameters\n", o.method.c_str(),
               matching ? o.source.c_str() : "N(0, I)", o.dataset.c_str(), o.convention.c_str(),
               static_cast<long>(task.model().num_parameters()));
  LoopOptions lo;
  lo.out = o.out;
  lo.max_steps = o.steps;
  lo.log_every = 100;
  lo.clip = 0;  // torchcfm's tutorial does not clip
  lo.seed = o.seed;
  lo.ema_decay = o.ema;
  lo.resume = o.resume;
  lo.loss_name = matching ? "train_fm_loss" : "train_nll";
  lo.progress_label = "train " + tag;
  lo.file_prefix = tag + "_";
  lo.reducer.bucket_bytes = static_cast<int64_t>(o.dist.bucket_mb * (1 << 20));
  TrainLoop loop(task, opt, nullptr, lo);
  LoopResult lr = loop.run();
  if (!lead) return lr.exit_code;

  // ---- evaluation, all with fixed seeds (and the weights' moving average with --ema)
  nn::EmaScope averaged(loop.average());
  ag::NoGradGuard ng;
  task.model().eval();
  nlohmann::json j{{"method", o.method},  {"source", matching ? o.source : "gaussian"}, {"dataset", o.dataset},
                   {"convention", o.convention}, {"steps", lr.steps}, {"batch", o.batch}, {"lr", o.lr},
                   {"parameters", task.model().num_parameters()}, {"train_seconds", lr.train_seconds},
                   {"seed", o.seed}, {"device", dev.str()}};
  Generator eval_gen(0xe7a1ull + static_cast<uint64_t>(d.target));
  Tensor fresh = d.target_batch(o.eval_points, &eval_gen);
  Tensor fresh2 = d.target_batch(o.eval_points, &eval_gen);
  const double floor = flows::w2sq_exact(fresh, fresh2);  // the floor: two independent target sets
  j["floor_w2sq"] = floor;
  j["floor_w2"] = std::sqrt(floor);
  j["n_eval"] = o.eval_points;
  Tensor shown;
  if (matching) {
    Tensor x0 = d.source_batch(o.eval_points, &eval_gen);
    auto w2_at = [&](flows::ode::Method m, int64_t steps, int64_t* nfe) {
      flows::ode::Options so;
      so.method = m;
      so.steps = steps;
      so.atol = so.rtol = 1e-4;
      flows::ode::Result r = flows::cnf_sample(*task.field(), x0.to(dev), so);
      if (nfe) *nfe = r.nfe;
      Tensor y = r.y[0].to(Device::cpu());
      if (m == flows::ode::Method::Dopri5) shown = y;
      return flows::w2sq_exact(y, fresh);
    };
    auto put = [&](const std::string& key, double w2sq) {
      j["w2_" + key] = num(std::sqrt(w2sq));
      j["w2sq_" + key] = num(w2sq);
    };
    for (int64_t n : {1, 2, 10, 100}) put(fmt::format("euler{}", n), w2_at(flows::ode::Method::Euler, n, nullptr));
    int64_t nfe = 0;
    put("adaptive", w2_at(flows::ode::Method::Dopri5, 0, &nfe));
    j["nfe_adaptive"] = nfe;
  } else {
    Generator sg(0x5a3eull);
    shown = task.density()->sample(o.eval_points, &sg).to(Device::cpu());
    const double w2sq = flows::w2sq_exact(shown, fresh);
    j["w2_" + o.method] = std::sqrt(w2sq);
    j["w2sq_" + o.method] = w2sq;
  }
  // NLL on held-out points where the model has a density against N(0, I)
  std::function<Tensor(const Tensor&)> model_logp;
  if (!matching) {
    model_logp = [&](const Tensor& x) {
      return task.density()->log_prob(Var(x.to(task.density()->dtype()).to(dev))).value();
    };
  } else if (d.gaussian_source) {
    model_logp = [&](const Tensor& x) {
      flows::CnfOptions co;
      co.solver.atol = co.solver.rtol = 1e-5;
      return flows::cnf_log_prob(*task.field(), x.to(DType::F32).to(dev), co).log_prob;
    };
  }
  if (model_logp) {
    Generator test_gen(0x7e57ull + static_cast<uint64_t>(d.target));  // the same test set for every run
    Tensor test = d.target_batch(o.test_size, &test_gen);
    double nll = 0, true_nll = 0;
    for (double v : model_logp(test).to_vector<double>()) nll -= v / static_cast<double>(o.test_size);
    for (double v : flows::toy2d_log_prob(d.target, test, d.conv).to_vector<double>())
      true_nll -= v / static_cast<double>(o.test_size);
    j["nll"] = num(nll);
    j["true_nll"] = num(true_nll);
    j["test_size"] = o.test_size;
    j["units"] = "nats per point";
  }
  std::vector<std::string> files{prefix + "_result.json", prefix + "_last.safetensors", prefix + "_metrics.jsonl"};
  if (o.plots) {
    const std::string what = matching ? o.method + " (" + o.source + " -> " + o.dataset + ")" : o.method + " " + o.dataset;
    if (scatter_png(prefix + "_samples.png", shown, what + ": samples", extent)) files.push_back(prefix + "_samples.png");
    Generator dg(0xda7aull);
    if (scatter_png(prefix + "_data.png", d.target_batch(o.samples, &dg), o.dataset + ": data", extent))
      files.push_back(prefix + "_data.png");
    if (model_logp) {
      Grid2D dens = density_grid(o.grid, extent, model_logp);
      double hi = finite_max(dens.values);
      PlotSpec hs{what + ": log-density", "x1", "x2", false, 760, 700, ""};
      heatmap_png(prefix + "_density.png", dens, hi - kColourRange, hi, hs);
      files.push_back(prefix + "_density.png");
    }
  }
  j["files"] = files;
  nn::atomic_write_file(prefix + "_result.json", j.dump(2) + "\n");
  nlohmann::json line = j;
  line.erase("files");
  std::printf("%s\n", line.dump().c_str());
  for (const auto& f : files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  return lr.exit_code;
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
  dist::Session session({o.dist.timeout_s}, &argc, &argv);  // MPI under mpirun; before run_main (rank errors abort)
  return run_main("toy2d", [&] { return run(o, session); });
}
