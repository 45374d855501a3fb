#include "apps/toy2d/protocol.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "flowgrad/flows/continuous/cnf.h"
#include "flowgrad/flows/toy_data.h"
#include "flowgrad/nn/data_loader.h"

namespace fg::app::toy2d {

using flows::Matcher;
using flows::PathSample;

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {

constexpr uint64_t kTimeStream = 0x7133ull, kEvalStream = 0xe7a1ull, kFloorStream = 0xf1007ull;

Tensor rows(const Tensor& x, const std::vector<int32_t>& idx) {
  return gather_rows(x, from_vector(idx, {static_cast<int64_t>(idx.size())}));
}

std::vector<int32_t> as_index(const std::vector<int>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

}  // namespace

// ---- C2OT

C2otBatches::~C2otBatches() {
  if (next_.valid()) next_.wait();
}

C2otBatches::Group C2otBatches::group(int64_t g) {
  ag::NoGradGuard ng;
  Generator gen(mix(seed_, static_cast<uint64_t>(g)));
  const auto cfm = flows::ToyConvention::TorchCFM;
  Group out;
  out.x0 = flows::sample_toy2d(flows::Toy2D::EightGaussians, kGroup, &gen, DType::F32, cfm);
  out.x1 = flows::sample_toy2d(flows::Toy2D::Moons, kGroup, &gen, DType::F32, cfm);
  if (m_ == Matcher::OTCFM) out.x1 = rows(out.x1, as_index(pairing_(out.x0, out.x1)));
  return out;
}

PathSample C2otBatches::operator()(int64_t step) {
  const int64_t g = step / (kGroup / kBatch), k = step % (kGroup / kBatch);
  if (g != current_) {
    if (next_.valid()) {  // the prefetched group (or, after a jump, finish it: the pairing is shared)
      Group pre = next_.get();
      cur_ = next_id_ == g ? std::move(pre) : group(g);
    } else {
      cur_ = group(g);
    }
    current_ = g;
    next_id_ = g + 1;
    next_ = std::async(std::launch::async, [this, id = next_id_] { return group(id); });
  }
  ag::NoGradGuard ng;
  Generator gen(mix(seed_ ^ kTimeStream, static_cast<uint64_t>(step)));
  Tensor x0 = slice(cur_.x0, 0, k * kBatch, (k + 1) * kBatch), x1 = slice(cur_.x1, 0, k * kBatch, (k + 1) * kBatch);
  Tensor t = rand({kBatch}, DType::F32, Device::cpu(), &gen);
  return flows::sample_path(Matcher::ICFM, x0, x1, t, zeros_like(x1), 0.0);  // sigma 0: x_t on the segment
}

// ---- torchcfm's runner

RunnerBatches::RunnerBatches(Matcher m, flows::RunnerData d, uint64_t seed, double sigma)
    : m_(m), seed_(seed), sigma_(sigma) {
  // moons and scurve: sklearn's random_state 42 for every seed (the datamodule's default);
  // 8gaussians: drawn after seeding with the run's seed, so it differs per seed
  Generator gen(d == flows::RunnerData::Gaussians ? mix(seed, 0xda7aull) : 42);
  Tensor all = flows::runner_dataset(d, kTrain + kVal + kTest, &gen).to(DType::F32);
  std::vector<int64_t> p = nn::seeded_permutation(kTrain + kVal + kTest, 42);  // random_split's fixed generator
  std::vector<int32_t> tr(p.begin(), p.begin() + kTrain), va(p.begin() + kTrain, p.begin() + kTrain + kVal),
      te(p.begin() + kTrain + kVal, p.end());
  train_ = rows(all, tr);
  val_ = rows(all, va);
  test_ = rows(all, te);
}

RunnerBatches::~RunnerBatches() {
  if (next_.valid()) next_.wait();
}

PathSample RunnerBatches::pair_and_sample(const Tensor& x1, Generator* g, flows::OtPairing* pairing) const {
  const int64_t n = x1.size(0);
  Tensor x0 = randn({n, 2}, DType::F32, Device::cpu(), g);
  if (m_ != Matcher::OTCFM) return flows::sample_path(m_, x0, x1, sigma_, g);
  // torchcfm's OTPlanSampler: the exact plan (a permutation / n), then n pairs drawn from it with
  // replacement (np.random.choice over the plan's entries)
  std::vector<int> perm = pairing ? (*pairing)(x0, x1) : flows::ot_pairing(x0, x1);
  auto u = rand({n}, DType::F64, Device::cpu(), g).to_vector<double>();
  std::vector<int32_t> i0(n), i1(n);
  for (int64_t k = 0; k < n; ++k) {
    const int i = std::min(static_cast<int>(n - 1), static_cast<int>(u[k] * static_cast<double>(n)));
    i0[k] = i;
    i1[k] = perm[i];
  }
  return flows::sample_path(Matcher::ICFM, rows(x0, i0), rows(x1, i1), sigma_, g);
}

PathSample RunnerBatches::sample(int64_t step) {
  ag::NoGradGuard ng;
  const int64_t per = batches_per_epoch(), epoch = step / per, b = step % per;
  std::vector<int64_t> perm = nn::epoch_permutation(kTrain, seed_, epoch);
  std::vector<int32_t> idx(perm.begin() + b * kBatch, perm.begin() + std::min(kTrain, (b + 1) * kBatch));
  Generator gen(mix(seed_, static_cast<uint64_t>(step)));
  return pair_and_sample(rows(train_, idx), &gen, &pairing_);
}

PathSample RunnerBatches::operator()(int64_t step) {
  PathSample s;
  if (next_.valid()) {
    s = next_.get();
    if (next_id_ != step) s = sample(step);
  } else {
    s = sample(step);
  }
  next_id_ = step + 1;
  next_ = std::async(std::launch::async, [this, id = next_id_] { return sample(id); });
  return s;
}

std::vector<PathSample> RunnerBatches::validation_samples(Generator* g) const {
  std::vector<PathSample> out;
  for (int64_t b = 0; b < kVal; b += kBatch) out.push_back(pair_and_sample(slice(val_, 0, b, std::min(kVal, b + kBatch)), g, nullptr));
  return out;
}

// ---- evaluation

namespace {

struct Solve {
  Tensor y;
  int64_t nfe = 0;
};

Solve integrate(flows::VelocityField& v, const Tensor& x0, flows::ode::Method m, int64_t steps, Device dev,
                double tol = 1e-4, int first_step_order = 4, int64_t chunk = 0) {
  flows::ode::Options o;
  o.method = m;
  o.steps = steps;
  o.atol = o.rtol = tol;
  o.first_step_order = first_step_order;
  const int64_t n = x0.size(0), c = chunk > 0 ? chunk : n;
  std::vector<Tensor> parts;
  Solve s;
  int64_t chunks = 0;
  for (int64_t i = 0; i < n; i += c, ++chunks) {
    flows::ode::Result r = flows::cnf_sample(v, slice(x0, 0, i, std::min(n, i + c)).to(dev), o);
    parts.push_back(r.y[0].to(Device::cpu()));
    s.nfe += r.nfe;
  }
  s.y = parts.size() == 1 ? parts[0] : concat(parts, 0);
  s.nfe = chunks > 0 ? s.nfe / chunks : 0;  // per chunk (C2OT's mean NFE; exact for one chunk)
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void put(nlohmann::json& j, const std::string& key, double w2sq) {
  j["w2_" + key] = std::sqrt(w2sq);
  j["w2sq_" + key] = w2sq;
}

}  // namespace

nlohmann::json evaluate_c2ot(flows::VelocityField& v, uint64_t seed, Device dev, Tensor* shown, int64_t n) {
  ag::NoGradGuard ng;
  const auto cfm = flows::ToyConvention::TorchCFM;
  Generator gen(mix(seed, kEvalStream));
  Tensor x0 = flows::sample_toy2d(flows::Toy2D::EightGaussians, n, &gen, DType::F32, cfm);
  Tensor x1 = flows::sample_toy2d(flows::Toy2D::Moons, n, &gen, DType::F32, cfm);
  Generator fgen(mix(seed, kFloorStream));
  Tensor x1b = flows::sample_toy2d(flows::Toy2D::Moons, n, &fgen, DType::F32, cfm);
  nlohmann::json j{{"n_eval", n}, {"units", "W2 and W2^2 (C2OT reports W2^2)"}};
  auto t0 = std::chrono::steady_clock::now();
  Tensor e1 = integrate(v, x0, flows::ode::Method::Euler, 1, dev).y;
  std::fprintf(stderr, "euler1 %.1f s\n", seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  put(j, "euler1", flows::w2sq_exact(e1, x1));
  std::fprintf(stderr, "w2 euler1 %.1f s\n", seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  // torchdyn's dopri5 as C2OT calls it: chunks of 256, one step size per chunk, its first step
  Solve ad = integrate(v, x0, flows::ode::Method::Dopri5, 0, dev, 1e-4, 5, 256);
  std::fprintf(stderr, "dopri5 %.1f s\n", seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  put(j, "adaptive", flows::w2sq_exact(ad.y, x1));
  std::fprintf(stderr, "w2 adaptive %.1f s\n", seconds_since(t0));
  j["nfe_adaptive"] = ad.nfe;
  t0 = std::chrono::steady_clock::now();
  const double floor = flows::w2sq_exact(x1b, x1);
  std::fprintf(stderr, "w2 floor %.1f s\n", seconds_since(t0));
  j["floor_w2sq"] = floor;
  j["floor_w2"] = std::sqrt(floor);
  if (shown) *shown = ad.y;
  return j;
}

nlohmann::json evaluate_runner(flows::VelocityField& v, const RunnerBatches& data, uint64_t seed, Device dev,
                               Tensor* shown) {
  ag::NoGradGuard ng;
  const Tensor& test = data.test();
  const int64_t n = test.size(0);
  Generator gen(mix(seed, kEvalStream));
  Tensor x0 = randn({n, 2}, DType::F32, Device::cpu(), &gen);
  nlohmann::json j{{"n_eval", n}, {"units", "W2 and W2^2 (torchcfm reports W2)"}};
  using flows::ode::Method;
  put(j, "euler1", flows::w2sq_exact(integrate(v, x0, Method::Euler, 1, dev).y, test));
  put(j, "euler100", flows::w2sq_exact(integrate(v, x0, Method::Euler, 100, dev).y, test));
  put(j, "rk4_100", flows::w2sq_exact(integrate(v, x0, Method::RK4, 100, dev).y, test));
  Solve ad = integrate(v, x0, Method::Dopri5, 0, dev, 1e-5);
  put(j, "adaptive", flows::w2sq_exact(ad.y, test));
  j["nfe_adaptive"] = ad.nfe;
  const double floor = flows::w2sq_exact(data.val(), test);  // two disjoint 1,000-point draws of the data
  j["floor_w2sq"] = floor;
  j["floor_w2"] = std::sqrt(floor);
  if (shown) *shown = ad.y;
  return j;
}

}  // namespace fg::app::toy2d
