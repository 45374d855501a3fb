// cnf_cost: what the CNF likelihood of an MNIST flow-matching checkpoint (fm, ot-cfm) costs, and
// what each cheaper setting does to its bpd. Every setting scores the same test images on the same
// dequantization draws and the same Hutchinson probes, so its difference to the reference (the
// first setting) has a paired standard error, far smaller than the bpd's own.
//   cnf_cost --checkpoint C [--data DIR] [--images 256] [--batch 64] [--settings "..."] [--json F]
// A setting is solver:parameter[:nats][:probeK]:
//   dopri5:TOL      atol = rtol = TOL, the log-density's error controlled per dimension (the default)
//   dopri5:TOL:nats the same with its error in nats per example (torchdiffeq/FFJORD; flowgrad before)
//   rk4:STEPS, midpoint:STEPS, euler:STEPS   fixed steps
//   :probeK         another draw of the Hutchinson probes (K = 1..14): against the same setting
//                   without it, the difference is the probes' own noise
// The images are spread evenly over the test set (its first half is the cleaner one). The standard
// errors treat images as independent; dopri5 picks one step sequence per batch, so a difference's
// error is somewhat larger than printed when batches are few.
// Prints a markdown table: bpd +- its standard error over images, the paired difference to the
// reference +- its standard error, evaluations per batch, seconds per image and the extrapolated
// minutes for the 10,000 test images. --json appends one line per setting.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flowgrad/flows/continuous/cnf.h"
#include "flowgrad/flows/continuous/image_fm.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/nn/mnist.h"

using namespace fg;

namespace {

struct Setting {
  std::string name;
  flows::CnfOptions cnf;
  uint64_t probe_draw = 0;
  std::vector<double> bpd;  // per image
  double seconds = 0;
  int64_t nfe = 0;  // summed over batches
};

Setting parse_setting(const std::string& s) {
  std::vector<std::string> f;
  std::stringstream ss(s);
  for (std::string p; std::getline(ss, p, ':');) f.push_back(p);
  FG_CHECK(f.size() >= 2, "setting '{}' is not solver:parameter[:nats][:probeK] (e.g. dopri5:1e-4, rk4:8)", s);
  Setting st;
  st.cnf.solver.method = flows::ode::parse_method(f[0]);
  const bool adaptive = st.cnf.solver.method == flows::ode::Method::Dopri5;
  for (size_t i = 2; i < f.size(); ++i) {
    if (f[i] == "nats") {
      FG_CHECK(adaptive, "setting '{}': nats changes only an adaptive solve's error control (dopri5)", s);
      st.cnf.per_dim_error = false;
      continue;
    }
    char* e = nullptr;
    const long k = f[i].rfind("probe", 0) == 0 ? std::strtol(f[i].c_str() + 5, &e, 10) : 0;
    FG_CHECK(k > 0 && k < 15 && e && *e == 0, "setting '{}': '{}' is neither nats nor probeK (K = 1..14)", s, f[i]);
    st.probe_draw = static_cast<uint64_t>(k);
  }
  st.name = s;
  st.cnf.exact = false;
  char* end = nullptr;
  const double v = std::strtod(f[1].c_str(), &end);
  FG_CHECK(end && *end == 0 && v > 0, "setting '{}': '{}' is not a positive number", s, f[1]);
  if (adaptive) {
    st.cnf.solver.atol = st.cnf.solver.rtol = v;
  } else {
    FG_CHECK(v == std::floor(v), "setting '{}': a fixed-step solver takes a whole number of steps, not {}", s, f[1]);
    st.cnf.solver.steps = static_cast<int64_t>(v);
  }
  return st;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct MeanSe {
  double mean = 0, se = 0;
};

MeanSe mean_se(const std::vector<double>& v) {
  MeanSe r;
  for (double x : v) r.mean += x;
  r.mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - r.mean) * (x - r.mean);
  r.se = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size())) : 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("cnf_cost: the CNF likelihood's cost and bpd under several solver settings");
  std::string ckpt, data, settings = "dopri5:1e-5:nats dopri5:1e-5 dopri5:1e-4 dopri5:1e-3 rk4:8", json_path;
  int64_t images = 256, batch = 64;
  uint64_t seed = 1;
  app.add_option("--checkpoint", ckpt, "an fm or ot-cfm checkpoint (train_mnist)")->required();
  app.add_option("--data", data, "the MNIST directory (default: FLOWGRAD_MNIST, MNIST_DIR or data/mnist)");
  app.add_option("--images", images, "test images, spread evenly over the test set")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per solve")->check(CLI::PositiveNumber);
  app.add_option("--settings", settings, "space-separated settings; the first is the reference")->capture_default_str();
  app.add_option("--seed", seed, "dequantization and probe draws");
  app.add_option("--json", json_path, "append one JSON line per setting here");
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<Setting> st;
    std::stringstream ss(settings);
    for (std::string s; ss >> s;) st.push_back(parse_setting(s));
    FG_CHECK(!st.empty(), "no settings");
    flows::LoadedModel lm = flows::load_model(ckpt);
    auto* fm = dynamic_cast<flows::ImageFM*>(lm.model.get());
    FG_CHECK(fm, "{} holds a {} model, not flow matching (fm, ot-cfm)", ckpt, lm.config.name);
    FG_CHECK(fm->num_classes() == 0, "{} is class-conditional; this tool scores unconditional models", ckpt);
    nn::MnistData test = nn::load_mnist(nn::resolve_mnist_dir(data), "test");
    images = std::min(images, test.size());
    std::vector<Tensor> rows;  // image i * N / images: the whole test set's mix of digits and styles
    for (int64_t i = 0; i < images; ++i) {
      const int64_t j = i * test.size() / images;
      rows.push_back(slice(test.images, 0, j, j + 1));
    }
    const Tensor subset = concat(rows, 0);
    const double d = static_cast<double>(numel(fm->image_shape()));
    ag::NoGradGuard ng;
    {  // warm-up: the kernels' plans at this batch, forward and vector-Jacobian product
      flows::CnfOptions w;
      w.exact = false;
      w.solver.method = flows::ode::Method::Euler;
      w.solver.steps = 1;
      (void)flows::cnf_log_prob(fm->field(), fm->to_continuous(slice(subset, 0, 0, std::min(batch, images))), w);
    }
    // one draw stream per batch and purpose: dequantization 0, probes 1 + K
    auto stream = [&](int64_t b0, uint64_t k) { return (seed << 24) + (static_cast<uint64_t>(b0) << 4) + k; };
    for (int64_t b0 = 0; b0 < images; b0 += batch) {
      const int64_t b1 = std::min(images, b0 + batch);
      Generator deq(stream(b0, 0));
      Tensor y = fm->to_continuous(slice(subset, 0, b0, b1), &deq);
      for (Setting& s : st) {
        Generator probes(stream(b0, 1 + s.probe_draw));  // the same probes for every setting
        s.cnf.probe_gen = &probes;
        const double t0 = now_s();
        flows::CnfResult r = flows::cnf_log_prob(fm->field(), y, s.cnf);
        s.seconds += now_s() - t0;
        s.nfe += r.nfe;
        s.cnf.probe_gen = nullptr;
        // bpd = -(log p_y(y) + D log(2 / 256)) / (D ln 2)
        for (double lp : r.log_prob.to_vector<double>())
          s.bpd.push_back(-(lp + d * std::log(2.0 / 256.0)) / (d * std::log(2.0)));
      }
      std::fprintf(stderr, "cnf_cost: %ld/%ld images\n", static_cast<long>(b1), static_cast<long>(images));
    }
    const double batches = std::ceil(static_cast<double>(images) / static_cast<double>(batch));
    std::printf("\nCNF likelihood of %s (%s), %ld test images, batch %ld, seed %lu, Hutchinson (Rademacher), "
                "1 dequantization draw\n\n", ckpt.c_str(), lm.config.name.c_str(), static_cast<long>(images),
                static_cast<long>(batch), static_cast<unsigned long>(seed));
    std::printf("| setting | bpd +- se | minus %s +- se | NFE per batch | s per image | 10,000 images |\n",
                st[0].name.c_str());
    std::printf("|---|---|---|---|---|---|\n");
    std::ofstream js;
    if (!json_path.empty()) {
      js.open(json_path, std::ios::app);
      FG_CHECK(js.good(), "cannot open {} for appending", json_path);
    }
    for (Setting& s : st) {
      MeanSe m = mean_se(s.bpd);
      std::vector<double> diff(s.bpd.size());
      for (size_t i = 0; i < diff.size(); ++i) diff[i] = s.bpd[i] - st[0].bpd[i];
      MeanSe dm = mean_se(diff);
      const double per_image = s.seconds / static_cast<double>(images);
      std::printf("| %s | %.4f +- %.4f | %+.5f +- %.5f | %.1f | %.3f | %.1f min |\n", s.name.c_str(), m.mean, m.se,
                  dm.mean, dm.se, static_cast<double>(s.nfe) / batches, per_image, per_image * 10000 / 60);
      if (js)
        js << nlohmann::json{{"checkpoint", ckpt}, {"setting", s.name}, {"images", images}, {"batch", batch},
                             {"seed", seed},
                             {"bpd", m.mean}, {"bpd_se", m.se}, {"diff_vs", st[0].name}, {"diff", dm.mean},
                             {"diff_se", dm.se}, {"nfe_per_batch", static_cast<double>(s.nfe) / batches},
                             {"seconds", s.seconds}, {"seconds_per_image", per_image}}
                  .dump()
           << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cnf_cost: %s\n", e.what());
    return 1;
  }
}
