#include "flowgrad/nn/optim.h"

#include <cmath>

#include "flowgrad/dist/reducer.h"

namespace fg::nn {

namespace {
// A dense tensor that no other tensor shares, so a kernel may update it in place: t itself when
// it already is one, else a copy (copy-on-write protects tensors that alias a parameter).
Tensor& writable(Tensor& t) {
  if (!t.is_contiguous() || !t.owns_storage()) t = t.clone();
  return t;
}
}  // namespace

Optimizer::Optimizer(std::vector<ag::Var> params, double lr) : params_(std::move(params)), lr_(lr) {
  FG_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got {}", lr);
  for (auto& p : params_) FG_CHECK(p.requires_grad(), "optimizer: a parameter does not require grad");
  step_ = zeros({1}, DType::F64, device());
}

Device Optimizer::device() const { return params_.empty() ? Device::cpu() : params_[0].device(); }

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

int64_t Optimizer::steps() const { return static_cast<int64_t>(step_.item()); }

void Optimizer::to(Device d) {
  step_ = step_.to(d);
  for (auto& [kind, ts] : state_)
    for (auto& t : ts)
      if (t.defined()) t = t.to(d);
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (auto& [kind, ts] : state_)
    for (size_t i = 0; i < ts.size(); ++i)
      if (ts[i].defined()) sd[kind + "." + std::to_string(i)] = ts[i];
  sd["step"] = step_;
  sd["lr"] = from_vector<double>({lr_}, {1});
  return sd;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& sd) {
  auto it = sd.find("step");
  FG_CHECK(it != sd.end(), "optimizer state: missing 'step'");
  FG_CHECK(it->second.numel() == 1, "optimizer state: 'step' has shape {}, expected [1]",
           shape_str(it->second.shape()));
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
    v[idx] = t.to(params_[idx].dtype()).to(params_[idx].device()).clone();
  }
  step_ = it->second.to(DType::F64).to(device()).reshape({1}).clone();
  if (auto l = sd.find("lr"); l != sd.end()) lr_ = l->second.item();
  state_ = std::move(st);
}

Adam::Adam(std::vector<ag::Var> params, double lr, double b1, double b2, double eps, double wd)
    : Optimizer(std::move(params), lr), b1_(b1), b2_(b2), eps_(eps), wd_(wd) {
  FG_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, "Adam: betas must be in [0, 1), got {} and {}", b1, b2);
  FG_CHECK(eps >= 0, "Adam: eps must be >= 0, got {}", eps);
}

void Adam::step(const Tensor* skip) {
  ag::NoGradGuard ng;
  auto& m = state_["exp_avg"];
  auto& v = state_["exp_avg_sq"];
  m.resize(params_.size());
  v.resize(params_.size());
  AdamTensors t;
  std::vector<Tensor> grads;  // keeps contiguous copies of strided grads alive
  grads.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    ag::Var& p = params_[i];
    if (!p.grad().defined()) continue;
    if (!m[i].defined()) {
      m[i] = zeros_like(p.value());
      v[i] = zeros_like(p.value());
    }
    grads.push_back(p.grad().contiguous());
    t.params.push_back(&writable(p.mutable_value()));
    t.exp_avg.push_back(&writable(m[i]));
    t.exp_avg_sq.push_back(&writable(v[i]));
  }
  for (auto& g : grads) t.grads.push_back(&g);
  adam_step(AdamParams{lr_, b1_, b2_, eps_, wd_, decoupled_ ? 1.0 : 0.0}, t, writable(step_), skip);
}

AdamW::AdamW(std::vector<ag::Var> params, double lr, double b1, double b2, double eps, double wd)
    : Adam(std::move(params), lr, b1, b2, eps, wd) {
  decoupled_ = true;
}

SGD::SGD(std::vector<ag::Var> params, double lr, double momentum, double dampening, double wd)
    : Optimizer(std::move(params), lr), momentum_(momentum), dampening_(dampening), wd_(wd) {}

void SGD::step(const Tensor* skip) {
  ag::NoGradGuard ng;
  auto& buf = state_["momentum_buffer"];
  buf.resize(params_.size());
  // with a skip flag, each result is where(skip != 0, old, new), on the device
  auto blend = [&](const Tensor& old, const Tensor& upd) { return skip ? where(*skip, old, upd) : upd; };
  for (size_t i = 0; i < params_.size(); ++i) {
    ag::Var& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    if (wd_ != 0) g = g + p.value() * wd_;
    if (momentum_ != 0) {
      Tensor nb = buf[i].defined() ? buf[i] * momentum_ + g * (1.0 - dampening_) : g.clone();
      buf[i] = buf[i].defined() ? blend(buf[i], nb) : nb;
      g = nb;
    }
    p.mutable_value() = blend(p.value(), p.value() - g * lr_);
  }
  step_ = blend(step_, step_ + 1.0);
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : opt_(opt), base_lr_(opt.lr()), gamma_(gamma), step_size_(step_size) {
  FG_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}

void StepLR::set_epoch(int64_t e) {
  epoch_ = e;
  opt_.set_lr(lr());
}

double StepLR::lr() const { return base_lr_ * std::pow(gamma_, static_cast<double>(epoch_ / step_size_)); }

void StepLR::step() { set_epoch(epoch_ + 1); }

Tensor grad_norm(const std::vector<ag::Var>& params) {
  std::vector<Tensor> grads;
  for (auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return zeros({}, DType::F64, params.empty() ? Device::cpu() : params[0].device());
  return sqrt(sum_of_squares(grads));
}

Tensor clip_grad_norm(const std::vector<ag::Var>& params, double max_norm) {
  std::vector<ag::Var> with;
  std::vector<Tensor> grads;
  for (auto& p : params)
    if (p.grad().defined()) {
      with.push_back(p);
      grads.push_back(p.grad());
    }
  if (grads.empty()) return zeros({}, DType::F64, params.empty() ? Device::cpu() : params[0].device());
  Tensor norm = sqrt(sum_of_squares(grads));
  // min(1, max_norm / (norm + 1e-6)), all on the device
  Tensor factor = clamp(pow(norm + 1e-6, -1.0) * max_norm, -INFINITY, 1.0);
  std::vector<Tensor> scaled = scale_all(grads, factor);
  for (size_t i = 0; i < with.size(); ++i) with[i].set_grad(std::move(scaled[i]));
  return norm;
}

StepResult optimizer_step(const ag::Var& loss, Optimizer& opt, const StepOptions& o) {
  FG_CHECK(loss.numel() == 1, "optimizer_step: the loss must be a scalar, got {}", shape_str(loss.shape()));
  StepResult r;
  if (o.reducer) {
    r.loss = o.reducer->backward(loss, o.share);
  } else {
    loss.backward();
    r.loss = loss.value();
  }
  if (o.after_backward) o.after_backward();
  r.grad_norm = o.clip > 0 ? clip_grad_norm(opt.params(), o.clip) : grad_norm(opt.params());
  r.bad = maximum(nonfinite(r.loss.to(DType::F64).reshape({})), nonfinite(r.grad_norm));
  opt.step(&r.bad);
  return r;
}

}  // namespace fg::nn
