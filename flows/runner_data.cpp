#include "flowgrad/flows/runner_data.h"

#include <cmath>
#include <numbers>

#include "flowgrad/nn/data_loader.h"

namespace fg::flows {

RunnerData parse_runner_data(const std::string& s) {
  if (s == "moons") return RunnerData::Moons;
  if (s == "scurve") return RunnerData::SCurve;
  if (s == "8gaussians") return RunnerData::Gaussians;
  fail(fmt::format("unknown torchcfm-runner dataset '{}' (expected moons, scurve or 8gaussians)", s));
}

const char* runner_data_name(RunnerData d) {
  switch (d) {
    case RunnerData::Moons: return "moons";
    case RunnerData::SCurve: return "scurve";
    case RunnerData::Gaussians: return "8gaussians";
  }
  return "?";
}

std::vector<std::string> runner_data_names() { return {"moons", "scurve", "8gaussians"}; }

Tensor runner_dataset(RunnerData d, int64_t n, Generator* g) {
  FG_CHECK(n >= 0, "runner_dataset: negative count {}", n);
  constexpr double pi = std::numbers::pi;
  std::vector<double> out(2 * n);
  switch (d) {
    case RunnerData::Moons: {
      const int64_t n_out = n / 2, n_in = n - n_out;
      std::vector<double> base(2 * n);
      for (int64_t i = 0; i < n; ++i) {
        const bool outer = i < n_out;
        const int64_t k = outer ? i : i - n_out, m = outer ? n_out : n_in;
        const double th = m > 1 ? pi * static_cast<double>(k) / static_cast<double>(m - 1) : 0.0;
        base[2 * i] = outer ? std::cos(th) : 1.0 - std::cos(th);
        base[2 * i + 1] = outer ? std::sin(th) : 0.5 - std::sin(th);
      }
      // shuffled (the permutation from g's next draw), then the noise
      const uint64_t shuffle_seed = static_cast<uint64_t>(rand({1}, DType::F64, Device::cpu(), g).item() * 9007199254740992.0);
      std::vector<int64_t> perm = nn::seeded_permutation(n, shuffle_seed);
      auto e = randn({n, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
      for (int64_t i = 0; i < n; ++i) {
        out[2 * i] = 2.0 * (base[2 * perm[i]] + 0.05 * e[2 * i]) - 1.0;
        out[2 * i + 1] = 2.0 * (base[2 * perm[i] + 1] + 0.05 * e[2 * i + 1]);
      }
      break;
    }
    case RunnerData::SCurve: {
      auto u = rand({n}, DType::F64, Device::cpu(), g).to_vector<double>();
      auto e = randn({n, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
      for (int64_t i = 0; i < n; ++i) {
        const double t = 3 * pi * (u[i] - 0.5);
        const double sgn = (t > 0) - (t < 0);
        out[2 * i] = 1.5 * (std::sin(t) + 0.05 * e[2 * i]);
        out[2 * i + 1] = 1.5 * (sgn * (std::cos(t) - 1.0) + 0.05 * e[2 * i + 1]);
      }
      break;
    }
    case RunnerData::Gaussians: {
      FG_CHECK(n % 8 == 0, "runner_dataset: 8gaussians needs a multiple of 8 points, got {}", n);
      const int64_t per = n / 8;
      auto e = randn({n, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
      auto off = randn({8, 2}, DType::F64, Device::cpu(), g).to_vector<double>();
      for (int64_t k = 0; k < 8; ++k) {
        const double ang = 2 * pi * static_cast<double>(k + 1) / 8.0;
        for (int64_t i = k * per; i < (k + 1) * per; ++i) {
          out[2 * i] = 5.0 * std::cos(ang) + e[2 * i] + 1e-4 * off[2 * k];
          out[2 * i + 1] = 5.0 * std::sin(ang) + e[2 * i + 1] + 1e-4 * off[2 * k + 1];
        }
      }
      break;
    }
  }
  return from_vector(out, {n, 2});
}

}  // namespace fg::flows
