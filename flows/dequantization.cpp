#include "flowgrad/flows/dequantization.h"

#include <cmath>

namespace fg::flows {

namespace {
double dims(const Var& z) { return static_cast<double>(z.numel() / z.size(0)); }
}  // namespace

Dequantization::Dequantization(double alpha, bool unscale_alpha, int quants)
    : alpha_(alpha), unscale_alpha_(unscale_alpha), quants_(quants) {
  FG_CHECK(alpha >= 0 && alpha < 1, "Dequantization: alpha must be in [0, 1), got {}", alpha);
  FG_CHECK(quants >= 2, "Dequantization: need at least 2 quantization levels, got {}", quants);
}

void Dequantization::logit(Var& z, Var& ldj) const {
  double d = dims(z);
  z = ag::affine(z, 1.0 - alpha_, 0.5 * alpha_);
  Var log_z = ag::log(z), log_1mz = ag::log(1.0 - z);
  ldj = ldj + (std::log(1.0 - alpha_) * d) - sum_except_batch(log_z + log_1mz);
  z = log_z - log_1mz;
}

void Dequantization::sigmoid(Var& z, Var& ldj) const {
  ldj = ldj + sum_except_batch(-z - 2.0 * ag::softplus(-z));
  z = ag::sigmoid(z);
  if (unscale_alpha_) {
    ldj = ldj - std::log(1.0 - alpha_) * dims(z);
    z = ag::affine(z, 1.0 / (1.0 - alpha_), -0.5 * alpha_ / (1.0 - alpha_));
  }
}

void Dequantization::dequant(Var& z, Var& ldj) {
  Tensor x = z.value().to(ldj.dtype());
  Tensor u = rand(x.shape(), x.dtype(), x.device(), generator);
  z = Var((x + u) * (1.0 / quants_));
  ldj = ldj - std::log(static_cast<double>(quants_)) * dims(z);
}

void Dequantization::forward(Var& z, Var& ldj, const FlowArgs&) {
  dequant(z, ldj);
  logit(z, ldj);
}

void Dequantization::reverse(Var& z, Var& ldj, const FlowArgs&) {
  sigmoid(z, ldj);
  z = z * static_cast<double>(quants_);
  ldj = ldj + std::log(static_cast<double>(quants_)) * dims(z);
  Tensor q = clamp(floor(z.value()), 0.0, quants_ - 1.0).to(DType::I32);
  z = Var(q);
}

VariationalDequantization::VariationalDequantization(std::vector<FlowPtr> flows, double alpha, bool unscale_alpha)
    : Dequantization(alpha, unscale_alpha), flows_(std::move(flows)) {
  for (size_t i = 0; i < flows_.size(); ++i) register_module("flows." + std::to_string(i), flows_[i]);
}

void VariationalDequantization::noise_flow(Var& u, Var& ldj, const Var& img) const {
  logit(u, ldj);
  for (auto& f : flows_) f->forward(u, ldj, {&img});
  sigmoid(u, ldj);
}

void VariationalDequantization::dequant(Var& z, Var& ldj) {
  Tensor x = z.value().to(ldj.dtype());
  Var img(x * (2.0 / 255.0) - 1.0);
  Var u(rand(x.shape(), x.dtype(), x.device(), generator));
  noise_flow(u, ldj, img);
  z = (Var(x) + u) * (1.0 / quants_);
  ldj = ldj - std::log(static_cast<double>(quants_)) * dims(z);
}

}  // namespace fg::flows
