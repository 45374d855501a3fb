#include "flowgrad/flows/aeflow.h"

#include <nlohmann/json.hpp>

#include "flowgrad/nn/init.h"
#include "flowgrad/nn/losses.h"

namespace fg::flows {

// ---------------------------------------------------------------------------- Flip

Var flip_features(const Var& x) {
  FG_CHECK(x.dim() == 2, "Flip: expects [N, D], got {}", shape_str(x.shape()));
  return ag::flip(x, 1);
}

void Flip::forward(Var& z, Var&, const FlowArgs&) { z = flip_features(z); }
void Flip::reverse(Var& z, Var&, const FlowArgs&) { z = flip_features(z); }

// ---------------------------------------------------------------------------- LinearCoupling

LinearCoupling::LinearCoupling(int64_t dim, int64_t hidden, bool bounded)
    : dim_(dim), half_(dim / 2), hidden_(hidden), bounded_(bounded) {
  FG_CHECK(dim >= 2 && hidden >= 1, "LinearCoupling: dim {} must be >= 2 and hidden {} >= 1", dim, hidden);
  pre = register_module("pre", std::make_shared<nn::Linear>(half_, hidden));
  enc = register_module("enc", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
                                   std::make_shared<nn::Linear>(hidden, hidden), nn::relu(),
                                   std::make_shared<nn::Linear>(hidden, hidden)}));
  post = register_module("post", std::make_shared<nn::Linear>(hidden, 2 * (dim - half_)));
  nn::zeros_(post->weight);
  nn::zeros_(post->bias);
  if (bounded_) scaling_factor = register_parameter("scaling_factor", zeros({dim - half_}));
}

std::string LinearCoupling::extra_repr() const {
  return fmt::format("dim={}, hidden={}{}", dim_, hidden_, bounded_ ? ", logs=tanh(s/e^f)e^f" : ", logs unbounded");
}

void LinearCoupling::shift_logscale(const Var& x0, Var& m, Var& logs) {
  Var st = (*post)((*enc)((*pre)(x0)));
  auto parts = ag::chunk(st, 2, 1);
  m = parts[0];
  if (bounded_) {
    Var f = ag::exp(scaling_factor);
    logs = ag::tanh(parts[1] / f) * f;
  } else {
    logs = parts[1];
  }
  if (record_stats) last_max_abs_logs_ = fg::amax(fg::abs(logs.value())).item();
}

void LinearCoupling::forward(Var& z, Var& ldj, const FlowArgs&) {
  FG_CHECK(z.dim() == 2 && z.size(1) == dim_, "LinearCoupling: expects [N, {}], got {}", dim_, shape_str(z.shape()));
  Var x0 = ag::slice(z, 1, 0, half_), x1 = ag::slice(z, 1, half_, dim_);
  Var m, logs;
  shift_logscale(x0, m, logs);
  z = ag::concat({x0, m + x1 * ag::exp(logs)}, 1);
  ldj = ldj + ag::sum(logs, {1});
}

void LinearCoupling::reverse(Var& z, Var& ldj, const FlowArgs&) {
  FG_CHECK(z.dim() == 2 && z.size(1) == dim_, "LinearCoupling: expects [N, {}], got {}", dim_, shape_str(z.shape()));
  Var x0 = ag::slice(z, 1, 0, half_), x1 = ag::slice(z, 1, half_, dim_);
  Var m, logs;
  shift_logscale(x0, m, logs);
  z = ag::concat({x0, (x1 - m) * ag::exp(-logs)}, 1);
  ldj = ldj - ag::sum(logs, {1});
}

// ---------------------------------------------------------------------------- config

AEFlowConfig aeflow_config(const std::string& variant, double nll_weight) {
  FG_CHECK(variant == "stable" || variant == "literal", "aeflow variant '{}': expected stable or literal", variant);
  AEFlowConfig c;
  c.variant = variant;
  c.nll_weight = nll_weight >= 0 ? nll_weight : (variant == "literal" ? 0.0 : kStableNllWeight);
  return c;
}

std::string aeflow_config_to_json(const AEFlowConfig& c) {
  nlohmann::json j{{"model", "aeflow"},  {"variant", c.variant},       {"latent", c.latent},
                   {"hidden", c.hidden}, {"n_flows", c.n_flows}, {"nll_weight", c.nll_weight},
                   {"nll_mode", c.nll_mode}};
  return j.dump();
}

AEFlowConfig aeflow_config_from_json(const std::string& s) {
  try {
    auto j = nlohmann::json::parse(s);
    FG_CHECK(j.value("model", "") == "aeflow", "not an aeflow config: {}", s);
    AEFlowConfig c = aeflow_config(j.at("variant").get<std::string>(), j.value("nll_weight", 0.0));
    c.latent = j.value("latent", c.latent);
    c.hidden = j.value("hidden", c.hidden);
    c.n_flows = j.value("n_flows", c.n_flows);
    c.nll_mode = j.value("nll_mode", c.nll_mode);
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("bad aeflow config '{}': {}", s, e.what()));
  }
}

// ---------------------------------------------------------------------------- AEFlow

AEFlow::AEFlow(const AEFlowConfig& cfg) : cfg_(cfg) {
  FG_CHECK(cfg.nll_mode == "prior" || cfg.nll_mode == "joint" || cfg.nll_mode == "detach",
           "aeflow nll_mode '{}': expected prior, joint or detach", cfg.nll_mode);
  const int64_t L = cfg.latent;
  enc = register_module("enc", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dConfig{1, 32, 4, 2, 1}), nn::relu(),
      std::make_shared<nn::Conv2d>(nn::Conv2dConfig{32, 64, 4, 2, 1}), nn::relu(), nn::flatten(1),
      std::make_shared<nn::Linear>(64 * 7 * 7, L), nn::relu()}));
  flows = register_module("flows", std::make_shared<nn::Sequential>());
  for (int64_t i = 0; i < cfg.n_flows; ++i) {
    auto c = std::make_shared<LinearCoupling>(L, cfg.hidden, cfg.bounded());
    auto f = std::make_shared<Flip>();
    couplings.push_back(c);
    flow_list_.push_back(c);
    flow_list_.push_back(f);
    flows->add(c);
    flows->add(f);
  }
  dec = register_module("dec", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Linear>(L, 64 * 7 * 7), nn::relu(), nn::unflatten({64, 7, 7}),
      std::make_shared<nn::ConvTranspose2d>(nn::Conv2dConfig{64, 32, 4, 2, 1}), nn::relu(),
      std::make_shared<nn::ConvTranspose2d>(nn::Conv2dConfig{32, 1, 4, 2, 1}), nn::sigmoid()}));
}

DType AEFlow::dtype() const { return couplings.empty() ? DType::F32 : couplings[0]->pre->weight.dtype(); }

Tensor AEFlow::to_unit(const Tensor& imgs) const {
  FG_CHECK(imgs.dim() == 4 && imgs.size(1) == 1 && imgs.size(2) == 28 && imgs.size(3) == 28,
           "AEFlow: images must be [N, 1, 28, 28], got {}", shape_str(imgs.shape()));
  Device dev = couplings[0]->pre->weight.device();
  if (imgs.dtype() == DType::U8 || imgs.dtype() == DType::I32)
    return (cast(imgs, dtype()) * (1.0 / 255.0)).to(dev);
  return cast(imgs, dtype()).to(dev);
}

Var AEFlow::encode(const Tensor& imgs) { return (*enc)(Var(to_unit(imgs))); }

void AEFlow::flow_forward(Var& h, Var& ldj) {
  for (auto& f : flow_list_) f->forward(h, ldj);
}

void AEFlow::flow_reverse(Var& z, Var& ldj) {
  for (auto it = flow_list_.rbegin(); it != flow_list_.rend(); ++it) (*it)->reverse(z, ldj);
}

Var AEFlow::decode(const Var& z) { return (*dec)(z); }

AEFlow::Pass AEFlow::run(const Tensor& imgs) {
  Pass p;
  p.x = Var(to_unit(imgs));
  p.h = (*enc)(p.x);
  p.z = p.h;
  p.ldj = Var(zeros({p.h.size(0)}, p.h.dtype(), p.h.device()));
  flow_forward(p.z, p.ldj);
  p.recon = decode(p.z);
  p.mse = nn::mse_loss(p.recon, p.x);
  // NLL of z under N(0, I) through the flow: -(log N(z) + ldj), nats per latent dim
  Var logp = ag::sum(std_normal_log_prob(p.z), {1}) + p.ldj;
  p.nll = ag::mean(logp) * (-1.0 / static_cast<double>(cfg_.latent));
  p.loss = p.mse;
  if (cfg_.nll_weight == 0) return p;
  Var reg;
  if (cfg_.nll_mode == "prior") {
    reg = ag::mean(ag::sum(ag::square(p.z), {1})) * (0.5 / static_cast<double>(cfg_.latent));
  } else if (cfg_.nll_mode == "detach") {
    Var z2 = p.h.detach(), l2(zeros({p.h.size(0)}, p.h.dtype(), p.h.device()));
    flow_forward(z2, l2);
    reg = ag::mean(ag::sum(std_normal_log_prob(z2), {1}) + l2) * (-1.0 / static_cast<double>(cfg_.latent));
  } else {
    reg = p.nll;
  }
  p.loss = p.mse + reg * cfg_.nll_weight;
  return p;
}

Tensor AEFlow::reconstruct(const Tensor& imgs) {
  ag::NoGradGuard ng;
  Var h = encode(imgs);
  Var ldj(zeros({h.size(0)}, h.dtype(), h.device()));
  flow_forward(h, ldj);
  return decode(h).value();
}

Tensor AEFlow::sample(int64_t n, Generator* g) {
  ag::NoGradGuard ng;
  Device dev = couplings[0]->pre->weight.device();
  Var z(randn({n, cfg_.latent}, dtype(), dev, g));
  return decode(z).value();
}

void AEFlow::set_record_stats(bool on) {
  for (auto& c : couplings) c->record_stats = on;
}

double AEFlow::last_max_abs_logs() const {
  double m = 0;
  for (auto& c : couplings) {
    double v = c->last_max_abs_logs();
    if (std::isnan(v)) return v;
    m = std::max(m, v);
  }
  return m;
}

}  // namespace fg::flows
