#include "flowgrad/nn/ema.h"

namespace fg::nn {

EMA::EMA(const Module& model, double decay) : params_(model.named_parameters()), decay_(decay) {
  FG_CHECK(decay >= 0 && decay < 1, "EMA: decay must be in [0, 1), got {}", decay);
}

void EMA::update(const Tensor* skip) {
  ag::NoGradGuard ng;
  if (shadow_.empty()) {
    for (auto& [name, p] : params_) shadow_.push_back(p.value().clone());
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second.value();
    // weight of the new value: 1 - decay, or 0 for a skipped step
    Tensor w = skip ? (1.0 - *skip) * (1.0 - decay_) : scalar(1.0 - decay_, DType::F64, p.device());
    shadow_[i] = shadow_[i] + (p - shadow_[i]) * w.to(p.dtype());
  }
}

void EMA::swap() {
  for (size_t i = 0; i < shadow_.size(); ++i) std::swap(params_[i].second.mutable_value(), shadow_[i]);
}

std::map<std::string, Tensor> EMA::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (size_t i = 0; i < shadow_.size(); ++i) sd[params_[i].first] = shadow_[i];
  return sd;
}

void EMA::load_state_dict(const std::map<std::string, Tensor>& sd) {
  std::vector<Tensor> loaded;
  for (auto& [name, p] : params_) {
    auto it = sd.find(name);
    FG_CHECK(it != sd.end(), "EMA state: parameter '{}' is missing", name);
    FG_CHECK(it->second.shape() == p.shape(), "EMA state: '{}' has shape {}, the parameter {}", name,
             shape_str(it->second.shape()), shape_str(p.shape()));
    loaded.push_back(it->second.to(p.dtype()).to(p.device()));
  }
  FG_CHECK(sd.size() == params_.size(), "EMA state: {} tensors for {} parameters", sd.size(), params_.size());
  shadow_ = std::move(loaded);
}

}  // namespace fg::nn
