#include "nn/optim.h"

#include <cmath>

namespace fg::nn {

Optimizer::Optimizer(std::vector<ag::Var> params, double lr) : params_(std::move(params)), lr_(lr) {
  FG_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got {}", lr);
  for (auto& p : params_) FG_CHECK(p.requires_grad(), "optimizer: a parameter does not require grad");
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (auto& [kind, ts] : state_)
    for (size_t i = 0; i < ts.size(); ++i)
      if (ts[i].defined()) sd[kind + "." + std::to_string(i)] = ts[i];
  sd["step"] = from_vector<double>({static_cast<double>(steps_)}, {1});
  sd["lr"] = from_vector<double>({lr_}, {1});
  return sd;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& sd) {
  auto it = sd.find("step");
  FG_CHECK(it != sd.end(), "optimizer state: missing 'step'");
  std::map<std::string, std::vector<Tensor>> st;
  for (auto& [name, t] : sd) {
    if (name == "step" || name == "lr") continue;
    auto dot = name.rfind('.');
    FG_CHECK(dot != std::string::npos, "optimizer state: unexpected entry '{}'", name);
    std::string kind = name.substr(0, dot);
    size_t idx = std::stoul(name.substr(dot + 1));
    FG_CHECK(idx < params_.size(), "optimizer state: '{}' refers to parameter {} but there are {}", name, idx,
             params_.size());
    FG_CHECK(t.shape() == params_[idx].shape(), "optimizer state: '{}' has shape {} but parameter {} is {}", name,
             shape_str(t.shape()), idx, shape_str(params_[idx].shape()));
    auto& v = st[kind];
    v.resize(params_.size());
    v[idx] = t.to(params_[idx].dtype()).to(params_[idx].device());
  }
  steps_ = static_cast<int64_t>(it->second.item());
  if (auto l = sd.find("lr"); l != sd.end()) lr_ = l->second.item();
  state_ = std::move(st);
}

Adam::Adam(std::vector<ag::Var> params, double lr, double b1, double b2, double eps, double wd)
    : Optimizer(std::move(params), lr), b1_(b1), b2_(b2), eps_(eps), wd_(wd) {
  FG_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, "Adam: betas must be in [0, 1), got {} and {}", b1, b2);
  FG_CHECK(eps >= 0, "Adam: eps must be >= 0, got {}", eps);
}

void Adam::step() {
  ag::NoGradGuard ng;
  ++steps_;
  auto& m = state_["exp_avg"];
  auto& v = state_["exp_avg_sq"];
  m.resize(params_.size());
  v.resize(params_.size());
  double bc1 = 1.0 - std::pow(b1_, static_cast<double>(steps_));
  double bc2 = 1.0 - std::pow(b2_, static_cast<double>(steps_));
  double step_size = lr_ / bc1;
  for (size_t i = 0; i < params_.size(); ++i) {
    ag::Var& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    if (wd_ != 0) g = g + p.value() * wd_;
    if (!m[i].defined()) {
      m[i] = zeros_like(g);
      v[i] = zeros_like(g);
    }
    m[i] = m[i] * b1_ + g * (1.0 - b1_);
    v[i] = v[i] * b2_ + square(g) * (1.0 - b2_);
    Tensor denom = sqrt(v[i]) * (1.0 / std::sqrt(bc2)) + eps_;
    p.mutable_value() = p.value() - (m[i] / denom) * step_size;
  }
}

SGD::SGD(std::vector<ag::Var> params, double lr, double momentum, double dampening, double wd)
    : Optimizer(std::move(params), lr), momentum_(momentum), dampening_(dampening), wd_(wd) {}

void SGD::step() {
  ag::NoGradGuard ng;
  ++steps_;
  auto& buf = state_["momentum_buffer"];
  buf.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    ag::Var& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    if (wd_ != 0) g = g + p.value() * wd_;
    if (momentum_ != 0) {
      buf[i] = buf[i].defined() ? buf[i] * momentum_ + g * (1.0 - dampening_) : g.clone();
      g = buf[i];
    }
    p.mutable_value() = p.value() - g * lr_;
  }
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : opt_(opt), base_lr_(opt.lr()), gamma_(gamma), step_size_(step_size) {
  FG_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}

void StepLR::set_epoch(int64_t e) {
  epoch_ = e;
  opt_.set_lr(base_lr_ * std::pow(gamma_, static_cast<double>(epoch_ / step_size_)));
}

void StepLR::step() { set_epoch(epoch_ + 1); }

double clip_grad_norm(const std::vector<ag::Var>& params, double max_norm) {
  double total = 0;
  for (auto& p : params)
    if (p.grad().defined()) total += sum(square(p.grad())).item();
  total = std::sqrt(total);
  if (total > max_norm) {
    double f = max_norm / (total + 1e-6);
    for (auto p : params)
      if (p.grad().defined()) p.set_grad(p.grad() * f);
  }
  return total;
}

}  // namespace fg::nn
