// Class conditioning (flowgrad/flows/conditional.h): one-hot labels and the class-conditional
// Gaussian base distribution.
#include "flowgrad/flows/conditional.h"

#include <algorithm>
#include <cmath>

namespace fg::flows {

Conditioning parse_conditioning(const std::string& s) {
  if (s == "none") return Conditioning::None;
  if (s == "prior") return Conditioning::Prior;
  if (s == "coupling") return Conditioning::Coupling;
  if (s == "both") return Conditioning::Both;
  fail(fmt::format("unknown conditioning '{}': expected none, prior, coupling or both", printable(s)));
}

const char* conditioning_name(Conditioning c) {
  switch (c) {
    case Conditioning::Prior: return "prior";
    case Conditioning::Coupling: return "coupling";
    case Conditioning::Both: return "both";
    default: return "none";
  }
}

Tensor one_hot(const Tensor& labels, int64_t k, DType dtype, Device device, const char* what) {
  FG_CHECK(labels.defined() && labels.dim() == 1, "{}: labels must be [N], got {}", what,
           labels.defined() ? shape_str(labels.shape()) : std::string("none"));
  FG_CHECK(labels.dtype() == DType::U8 || labels.dtype() == DType::I32, "{}: labels must be u8 or i32", what);
  Tensor l = labels.to(Device::cpu()).contiguous();
  const int64_t n = l.size(0);
  std::vector<double> v(static_cast<size_t>(n * k), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = l.dtype() == DType::U8 ? int64_t{l.data<uint8_t>()[i]} : int64_t{l.data<int32_t>()[i]};
    FG_CHECK(y >= 0 && y < k, "{}: label {} at index {} is outside the {} classes 0..{}", what, y, i, k, k - 1);
    v[static_cast<size_t>(i * k + y)] = 1.0;
  }
  return from_vector(v, {n, k}).to(dtype).to(device);
}

Tensor full_labels(int64_t n, int64_t label) {
  return from_vector(std::vector<int32_t>(static_cast<size_t>(n), static_cast<int32_t>(label)), {n});
}

ClassPrior::ClassPrior(int64_t num_classes, Shape shape) : k_(num_classes), shape_(std::move(shape)) {
  FG_CHECK(k_ >= 1, "ClassPrior: needs at least one class, got {}", k_);
  mean = register_parameter("mean", zeros({k_, numel(shape_)}));
  log_scale = register_parameter("log_scale", zeros({k_, numel(shape_)}));
}

std::string ClassPrior::extra_repr() const { return fmt::format("classes={}, shape={}", k_, shape_str(shape_)); }

Var ClassPrior::rows(const Var& p, const Var& onehot, int64_t n) const {
  Shape s{n};
  s.insert(s.end(), shape_.begin(), shape_.end());
  return ag::reshape(ag::matmul(onehot, p), s);
}

Var ClassPrior::log_prob(const Var& z, const Var& onehot) const {
  const int64_t n = z.size(0);
  FG_CHECK(onehot.dim() == 2 && onehot.size(0) == n && onehot.size(1) == k_,
           "ClassPrior: one-hot labels must be [{}, {}], got {}", n, k_, shape_str(onehot.shape()));
  Shape want{n};
  want.insert(want.end(), shape_.begin(), shape_.end());
  FG_CHECK(z.shape() == want, "ClassPrior: z must be {}, got {}", shape_str(want), shape_str(z.shape()));
  Var ls = rows(log_scale, onehot, n);
  Var u = (z - rows(mean, onehot, n)) * ag::exp(-ls);
  return sum_except_batch(ag::affine(ag::square(u), -0.5, -0.9189385332046727) - ls);
}

void ClassPrior::init_from(const Tensor& z, const Tensor& labels) {
  const int64_t n = z.size(0), d = numel(shape_);
  FG_CHECK(z.numel() == n * d && labels.dim() == 1 && labels.size(0) == n,
           "ClassPrior::init_from: z {} and labels {} do not fit [N, {}]", shape_str(z.shape()),
           shape_str(labels.shape()), shape_str(shape_));
  Tensor zz = z.to(Device::cpu()).to(DType::F64).contiguous();
  Tensor oh = one_hot(labels, k_, DType::F64, Device::cpu(), "ClassPrior::init_from");
  const double* x = zz.data<double>();
  const double* y = oh.data<double>();
  std::vector<double> m = mean.value().to(Device::cpu()).to(DType::F64).to_vector<double>();
  std::vector<double> s = log_scale.value().to(Device::cpu()).to(DType::F64).to_vector<double>();
  std::vector<double> sq(d, 0.0);  // squared deviations from each row's class mean, pooled over classes
  int64_t pooled = 0;
  for (int64_t c = 0; c < k_; ++c) {
    std::vector<double> sum(d, 0.0), ss(d, 0.0);
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (y[i * k_ + c] == 0.0) continue;
      ++cnt;
      for (int64_t j = 0; j < d; ++j) sum[j] += x[i * d + j], ss[j] += x[i * d + j] * x[i * d + j];
    }
    if (cnt == 0) continue;
    pooled += cnt;
    for (int64_t j = 0; j < d; ++j) {
      m[c * d + j] = sum[j] / cnt;
      sq[j] += std::max(0.0, ss[j] - sum[j] * sum[j] / cnt);
    }
  }
  if (pooled >= 2)
    for (int64_t j = 0; j < d; ++j) {
      const double ls = std::max(0.5 * std::log(sq[j] / pooled + 1e-12), std::log(0.05));
      for (int64_t c = 0; c < k_; ++c) s[c * d + j] = ls;
    }
  Var mv = mean, sv = log_scale;
  mv.mutable_value() = from_vector(m, {k_, d}).to(mean.dtype()).to(mean.device());
  sv.mutable_value() = from_vector(s, {k_, d}).to(log_scale.dtype()).to(log_scale.device());
}

Tensor ClassPrior::sample(const Tensor& onehot, double temperature, Generator* g) const {
  ag::NoGradGuard ng;
  const int64_t n = onehot.size(0);
  Var oh(onehot);
  Tensor mu = rows(mean, oh, n).value(), sd = exp(rows(log_scale, oh, n).value());
  return mu + sd * normal(mu.shape(), 0.0, temperature, mu.dtype(), mu.device(), g);
}

Var base_log_prob(const ClassPrior* prior, const Var& z, const Var* onehot, const char* what) {
  if (!prior) return sum_except_batch(std_normal_log_prob(z));
  FG_CHECK(onehot, "{}: the model is class-conditional; give the images' labels", what);
  return prior->log_prob(z, *onehot);
}

}  // namespace fg::flows
