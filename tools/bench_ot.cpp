// bench_ot: the exact assignments behind OT-CFM and the W2 estimates, timed on the protocols' data.
//   --what pairing  OT-CFM's minibatch pairing: C2OT's 8 Gaussians against torchdyn moons (or
//                   N(0, I) against torchcfm-runner moons with --runner), --n points each, --reps
//                   batches; prints the median ms per pairing, cold (LAPJV from scratch) and warm
//                   (duals carried from the previous batch, flows::OtPairing)
//   --what w2       W2^2 between --n moons and --n points of a --case: dense LAPJV and/or the
//                   sparse solver with its certificate; prints seconds, peak RSS, W2^2, rounds
// One JSON line per measurement on stdout.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/continuous/sparse_assignment.h"
#include "flowgrad/flows/toy_data.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double peak_rss_mb() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_ot: time the exact assignments of OT-CFM pairing and W2"};
  std::string what = "pairing", method = "both", kind = "jitter";
  int64_t n = 256, reps = 200;
  int threads = 1, neighbours = 16;
  uint64_t seed = 0;
  app.add_option("--what", what)->check(CLI::IsMember({"pairing", "w2"}));
  app.add_option("--method", method, "w2: dense, sparse or both")->check(CLI::IsMember({"dense", "sparse", "both"}));
  app.add_option("--n", n)->check(CLI::PositiveNumber);
  app.add_option("--case", kind, "w2: moons against jitter (moons + N(0, 0.05^2)), floor (moons), blob (N(0.5, 0.05^2)) "
                                 "or 8gaussians")
      ->check(CLI::IsMember({"jitter", "floor", "blob", "8gaussians"}));
  app.add_option("--reps", reps)->check(CLI::PositiveNumber);
  app.add_option("--threads", threads);
  app.add_option("--neighbours", neighbours, "w2: the sparse solver's k");
  app.add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  const auto cfm = flows::ToyConvention::TorchCFM;
  if (what == "pairing") {
    std::vector<double> cold, warm;
    flows::OtPairing pairing;
    for (int64_t r = 0; r < reps; ++r) {
      Generator g(seed * 1000003 + static_cast<uint64_t>(r));
      Tensor x0 = flows::sample_toy2d(flows::Toy2D::EightGaussians, n, &g, DType::F32, cfm);
      Tensor x1 = flows::sample_toy2d(flows::Toy2D::Moons, n, &g, DType::F32, cfm);
      double t0 = now_s();
      std::vector<int> p = flows::ot_pairing(x0, x1);
      double t1 = now_s();
      std::vector<int> q = pairing(x0, x1);
      double t2 = now_s();
      cold.push_back((t1 - t0) * 1e3);
      warm.push_back((t2 - t1) * 1e3);
      if (p != q) {  // ties aside, the optimum is unique: the costs must agree
        auto c = flows::squared_distances(x0, x1);
        double cp = 0, cq = 0;
        for (int64_t i = 0; i < n; ++i) cp += c[i * n + p[i]], cq += c[i * n + q[i]];
        if (std::abs(cp - cq) > 1e-9 * std::max(1.0, cp)) {
          std::fprintf(stderr, "bench_ot: warm and cold pairings differ in cost (%.12g vs %.12g)\n", cp, cq);
          return 1;
        }
      }
    }
    std::printf("%s\n", nlohmann::json{{"what", "pairing"}, {"n", n}, {"reps", reps},
                                       {"cold_ms_median", median(cold)}, {"warm_ms_median", median(warm)}}
                            .dump()
                            .c_str());
    return 0;
  }
  Generator g(seed);
  Tensor a = flows::sample_toy2d(flows::Toy2D::Moons, n, &g, DType::F64, cfm);
  Tensor b;
  if (kind == "jitter")
    b = flows::sample_toy2d(flows::Toy2D::Moons, n, &g, DType::F64, cfm) + randn({n, 2}, DType::F64, Device::cpu(), &g) * 0.05;
  else if (kind == "floor")
    b = flows::sample_toy2d(flows::Toy2D::Moons, n, &g, DType::F64, cfm);
  else if (kind == "blob")
    b = randn({n, 2}, DType::F64, Device::cpu(), &g) * 0.05 + 0.5;
  else
    b = flows::sample_toy2d(flows::Toy2D::EightGaussians, n, &g, DType::F64, cfm);
  for (const char* m : {"dense", "sparse"}) {
    if (method != "both" && method != m) continue;
    nlohmann::json j{{"what", "w2"}, {"case", kind}, {"method", m}, {"n", n}};
    double t0 = now_s();
    if (std::string(m) == "dense") {
      auto c = flows::squared_distances(a, b);
      j["w2sq"] = flows::solve_assignment(c, static_cast<int>(n)).cost / static_cast<double>(n);
    } else {
      flows::SparseAssignmentOptions so;
      so.neighbours = neighbours;
      flows::SparseAssignment s = flows::solve_assignment_sparse(a, b, so);
      j["w2sq"] = s.cost / static_cast<double>(n);
      j["rounds"] = s.rounds;
      j["edges"] = s.edges;
      j["max_violation"] = s.max_violation;
      j["tolerance"] = s.tolerance;
      j["widened"] = s.widened;
      j["seconds_phases"] = {s.seconds_prices, s.seconds_candidates, s.seconds_augment, s.seconds_certify};
    }
    j["seconds"] = now_s() - t0;
    j["peak_rss_mb"] = peak_rss_mb();
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}
