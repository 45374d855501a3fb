// toy2d and train_aeflow end to end:
//   - a short 2-D run: OT-CFM's one-step W2 is far below I-CFM's (straight paths: one Euler step
//     already lands near the target), and the run prints the JSON line the protocol reads;
//   - an OT-CFM run resumed halfway equals the straight run (warm-started pairings are exact);
//   - the two --protocol presets: their networks, W2 next to W2^2, n and the floor, fixed settings;
//   - train_aeflow --variant literal diverges on real MNIST (seed 3, step 6): it stops at the first
//     non-finite value with exit 1 and a report, writes no checkpoint, and records the step.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace fg;
namespace fs = std::filesystem;

namespace {
std::string bin(const char* env, const char* fallback) {
  const char* e = std::getenv(env);
  return e ? e : fallback;
}

nlohmann::json last_json_line(const std::string& out) {
  std::string line, last;
  std::istringstream in(out);
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') last = line;
  REQUIRE_MESSAGE(!last.empty(), out);
  return nlohmann::json::parse(last);
}
}  // namespace

TEST_CASE("toy2d: OT-CFM's one-step W2 is far below I-CFM's after the same short training") {
  fg::test::TempDir t;
  std::map<std::string, nlohmann::json> res;
  for (const char* m : {"i-cfm", "ot-cfm"}) {
    auto r = fg::test::run_command(bin("FLOWGRAD_TOY2D_BIN", "apps/toy2d") + " --method " + m +
                                   " --source 8gaussians --dataset moons --steps 1500 --no-plots --eval-points 500 --out " +
                                   t.path.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    res[m] = last_json_line(r.output);
  }
  double icfm = res["i-cfm"]["w2_euler1"], ot = res["ot-cfm"]["w2_euler1"];
  MESSAGE("W2 after one Euler step: I-CFM ", icfm, ", OT-CFM ", ot);
  CHECK(ot < 0.4 * icfm);
  for (auto& [m, j] : res) {
    for (const char* k : {"w2_euler2", "w2_euler10", "w2_euler100", "w2_adaptive", "w2sq_euler1", "w2sq_adaptive",
                          "nfe_adaptive", "n_eval", "floor_w2", "floor_w2sq"})
      CHECK_MESSAGE(j.contains(k), m, " lacks ", k);
    CHECK(j["w2sq_euler1"].get<double>() == doctest::Approx(std::pow(j["w2_euler1"].get<double>(), 2)));
  }
  CHECK(fs::exists(t.path / "ot-cfm_8gaussians_moons_result.json"));
}

TEST_CASE("toy2d OT-CFM: a resumed run equals the straight one (the warm-started pairings are the cold ones)") {
  // the straight run pairs step 60 warm from step 59's duals, the resumed one cold: the exact
  // assignment is the same either way, so the runs must agree to the last bit
  fg::test::TempDir a, b;
  const std::string cmd = bin("FLOWGRAD_TOY2D_BIN", "apps/toy2d") +
                          " --method ot-cfm --source 8gaussians --dataset moons --no-plots --eval-points 300 --steps ";
  auto straight = fg::test::run_command(cmd + "120 --out " + a.path.string());
  INFO(straight.output);
  REQUIRE(straight.code == 0);
  auto first = fg::test::run_command(cmd + "60 --out " + b.path.string());
  REQUIRE(first.code == 0);
  auto resumed = fg::test::run_command(cmd + "120 --out " + b.path.string() + " --resume " +
                                       (b.path / "ot-cfm_8gaussians_moons_last.safetensors").string());
  INFO(resumed.output);
  REQUIRE(resumed.code == 0);
  nlohmann::json ja = last_json_line(straight.output), jb = last_json_line(resumed.output);
  CHECK(ja["w2sq_euler1"].get<double>() == jb["w2sq_euler1"].get<double>());
  CHECK(ja["w2sq_adaptive"].get<double>() == jb["w2sq_adaptive"].get<double>());
}

TEST_CASE("toy2d --protocol c2ot and torchcfm: their networks, both units, the floor, and fixed settings") {
  fg::test::TempDir t;
  const std::string toy2d = bin("FLOWGRAD_TOY2D_BIN", "apps/toy2d");
  // a short run, evaluated on 1,000 instead of the protocol's 10,000 points (n_eval says so)
  auto c = fg::test::run_command(toy2d + " --protocol c2ot --method ot-cfm --steps 200 --eval-points 1000 --no-plots --out " +
                                 t.path.string());
  INFO(c.output);
  REQUIRE(c.code == 0);
  auto j = last_json_line(c.output);
  CHECK(j["parameters"] == 396034);
  CHECK(j["n_eval"] == 1000);
  CHECK(j["steps"] == 200);
  for (const char* k : {"euler1", "adaptive"})
    CHECK(j[std::string("w2sq_") + k].get<double>() == doctest::Approx(std::pow(j[std::string("w2_") + k].get<double>(), 2)));
  CHECK(j["nfe_adaptive"].get<int>() >= 8);
  // the floor at n = 1,000: two draws of C2OT's moons, W2 about 0.1 (W2^2 about 0.01)
  CHECK(j["floor_w2sq"].get<double>() > 0.003);
  CHECK(j["floor_w2sq"].get<double>() < 0.03);
  CHECK(fs::exists(t.path / "c2ot_ot-cfm_moons_seed0_result.json"));

  auto r = fg::test::run_command(toy2d + " --protocol torchcfm --method ot-cfm --dataset moons --steps 400 --no-plots --out " +
                                 t.path.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto k = last_json_line(r.output);
  CHECK(k["parameters"] == 8706);
  CHECK(k["n_eval"] == 1000);
  // validations every 10 epochs (200 steps): the tested weights are one of those two
  CHECK((k["tested_step"] == 200 || k["tested_step"] == 400));
  for (const char* key : {"w2_euler100", "w2sq_euler100", "w2_rk4_100", "w2sq_rk4_100", "floor_w2", "floor_w2sq"})
    CHECK_MESSAGE(k.contains(key), "lacks ", key);

  auto bad = fg::test::run_command(toy2d + " --protocol c2ot --method ot-cfm --lr 0.001 --out " + t.path.string());
  CHECK(bad.code == 2);
  CHECK(bad.output.find("--lr is fixed by --protocol c2ot") != std::string::npos);
  auto fm = fg::test::run_command(toy2d + " --protocol c2ot --method fm --out " + t.path.string());
  CHECK(fm.code == 2);
}

TEST_CASE("toy2d: the Gaussian-source runs report the CNF's test NLL next to the true density's") {
  fg::test::TempDir t;
  auto r = fg::test::run_command(bin("FLOWGRAD_TOY2D_BIN", "apps/toy2d") +
                                 " --method fm --dataset 8gaussians --steps 600 --no-plots --test-size 300 --eval-points 300 --out " +
                                 t.path.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto j = last_json_line(r.output);
  REQUIRE(j["nll"].is_number());
  REQUIRE(j["true_nll"].is_number());
  CHECK(j["nll"].get<double>() > j["true_nll"].get<double>() - 0.05);  // no model beats the truth (up to noise)
  CHECK(j["nll"].get<double>() < 6.0);                                  // and this one learned something
}

TEST_CASE("toy2d --method resflow: a short run learns moons past the best Gaussian, its NLL exact and above the truth") {
  fg::test::TempDir t;
  auto r = fg::test::run_command(bin("FLOWGRAD_TOY2D_BIN", "apps/toy2d") +
                                 " --method resflow --dataset moons --steps 800 --no-plots --test-size 1000 --eval-points 300 --out " +
                                 t.path.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto j = last_json_line(r.output);
  const double nll = j["nll"], truth = j["true_nll"];
  MESSAGE("resflow on moons after 800 steps: test NLL ", nll, " nats (true density ", truth, ")");
  CHECK(nll > truth - 0.05);
  CHECK(nll < 3.2);  // the best Gaussian fit to moons is 3.29 nats (tests/flows/test_toy2d.cpp)
  CHECK(j.contains("w2_resflow"));
  CHECK(fs::exists(t.path / "resflow_moons_result.json"));
}

TEST_CASE("train_aeflow --variant literal stops at the first non-finite value, without a checkpoint" *
          doctest::skip(fg::test::needs_mnist("test_programs"))) {
  fg::test::TempDir t;
  auto r = fg::test::run_command(bin("FLOWGRAD_AEFLOW_BIN", "apps/train_aeflow") +
                                 " --variant literal --seed 3 --max-steps 40 --threads 2 --data " +
                                 fg::test::mnist_dir() + " --out " + t.path.string());
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find("non-finite value at step") != std::string::npos);
  CHECK(r.output.find("first non-finite value") != std::string::npos);  // the report with the steps before
  CHECK_FALSE(fs::exists(t.path / "last.safetensors"));
  CHECK_FALSE(fs::exists(t.path / "best.safetensors"));
  auto res = nlohmann::json::parse(std::ifstream(t.path / "results.json"));
  CHECK(res["first_nonfinite_step"].is_number());
  CHECK(res["first_nonfinite_step"].get<int>() < 40);
}
