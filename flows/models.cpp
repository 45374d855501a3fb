#include "flowgrad/flows/models.h"

#include "flowgrad/flows/continuous/image_fm.h"

#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/multiscale.h"

#include <nlohmann/json.hpp>

namespace fg::flows {

namespace {

FlowPtr coupling(int64_t c_in, int64_t c_hidden, Tensor mask, Arch arch, bool additive, int64_t c_net_in = -1,
                 int64_t c_out = -1) {
  if (c_net_in < 0) c_net_in = c_in;
  if (c_out < 0) c_out = additive ? c_in : 2 * c_in;
  auto net = std::make_shared<GatedConvNet>(c_net_in, c_hidden, c_out, arch);
  return std::make_shared<CouplingLayer>(net, std::move(mask), c_in, additive);
}

std::shared_ptr<Dequantization> variational_dequantization(Arch arch) {
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 4; ++i)
    flows.push_back(coupling(1, 16, checkerboard_mask(28, 28, i % 2 == 1), arch, false, 2, 2));
  return std::make_shared<VariationalDequantization>(flows, 1e-5, arch == Arch::V2);
}

}  // namespace

std::shared_ptr<ImageFlow> create_simple_flow(bool use_vardeq, Arch arch, bool additive) {
  std::shared_ptr<Dequantization> deq = use_vardeq ? variational_dequantization(arch)
                                                  : std::make_shared<Dequantization>(1e-5, arch == Arch::V2);
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 8; ++i) flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28});
}

std::shared_ptr<ImageFlow> create_multiscale_flow(Arch arch, bool additive) {
  auto deq = variational_dequantization(arch);  // built first: initialization draws in this order
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 2; ++i) flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive));
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 2; ++i) flows.push_back(coupling(4, 48, channel_mask(4, i % 2 == 1), arch, additive));
  flows.push_back(std::make_shared<SplitFlow>());
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 4; ++i) flows.push_back(coupling(8, 64, channel_mask(8, i % 2 == 1), arch, additive));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28});
}

std::shared_ptr<ImageFlow> create_glow(int k, int hidden) {
  FG_CHECK(k >= 1 && hidden >= 1, "create_glow: need k >= 1 and hidden >= 1, got k={} hidden={}", k, hidden);
  // the peer's Dequantization() undoes the alpha squeeze (unscale_alpha=True) for every variant
  std::vector<FlowPtr> flows{std::make_shared<SqueezeFlow>()};
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(4, hidden));
  flows.push_back(std::make_shared<SplitFlow>());
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(8, hidden));
  return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(1e-5, true), flows, Shape{1, 28, 28});
}

const std::vector<std::string>& coupling_model_names() {
  static const std::vector<std::string> names{"simple", "vardeq", "multiscale", "glow"};
  return names;
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"simple", "vardeq", "multiscale", "glow", "fm", "ot-cfm"};
  return names;
}

std::shared_ptr<ImageFlow> build_model(const ModelConfig& cfg) {
  std::shared_ptr<ImageFlow> m;
  if (cfg.name == "simple") m = create_simple_flow(false, cfg.arch, cfg.additive);
  else if (cfg.name == "vardeq") m = create_simple_flow(true, cfg.arch, cfg.additive);
  else if (cfg.name == "multiscale") m = create_multiscale_flow(cfg.arch, cfg.additive);
  else if (cfg.name == "glow") m = create_glow(cfg.glow_k, cfg.glow_hidden);
  else if (cfg.flow_matching()) fail(fmt::format("model '{}' is a flow-matching model, not a coupling flow", cfg.name));
  else fail(fmt::format("unknown model '{}': expected one of {}", cfg.name, fmt::join(model_names(), ", ")));
  FG_CHECK(m, "unknown model '{}'", cfg.name);
  m->import_samples = cfg.import_samples;
  return m;
}

std::shared_ptr<ImageModel> build_image_model(const ModelConfig& cfg) {
  if (!cfg.flow_matching()) return build_model(cfg);
  Matcher m = parse_matcher(cfg.name);
  double sigma = cfg.fm_sigma >= 0 ? cfg.fm_sigma : (m == Matcher::FM ? 1e-4 : 0.0);
  return std::make_shared<ImageFM>(m, cfg.fm_channels, sigma);
}

std::string config_to_json(const ModelConfig& cfg) {
  nlohmann::json j{{"model", cfg.name}, {"arch", arch_name(cfg.arch)}, {"additive", cfg.additive},
                   {"import_samples", cfg.import_samples}, {"glow_k", cfg.glow_k}, {"glow_hidden", cfg.glow_hidden}};
  if (cfg.flow_matching()) {
    j["fm_channels"] = cfg.fm_channels;
    j["fm_sigma"] = cfg.fm_sigma;
  }
  return j.dump();
}

ModelConfig config_from_json(const std::string& text) {
  ModelConfig c;
  try {
    auto j = nlohmann::json::parse(text);
    c.name = j.at("model").get<std::string>();
    c.arch = parse_arch(j.value("arch", std::string("v2")));
    c.additive = j.value("additive", false);
    c.import_samples = j.value("import_samples", 8);
    c.glow_k = j.value("glow_k", 8);
    c.glow_hidden = j.value("glow_hidden", 128);
    c.fm_channels = j.value("fm_channels", 48);
    c.fm_sigma = j.value("fm_sigma", -1.0);
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("bad model config '{}': {}", text, e.what()));
  }
  return c;
}

int64_t tutorial_param_count(const std::string& name, Arch arch) {
  bool v1 = arch == Arch::V1;
  if (name == "simple") return v1 ? 335128 : 556312;
  if (name == "vardeq") return v1 ? 379556 : 628388;
  if (name == "multiscale") return v1 ? 1062090 : 1711818;
  if (name == "glow") return 433792;  // not the tutorial's: the PyTorch peer's (../shared/peer/README.md), K 8, hidden 128
  return -1;
}

LoadedModel load_model(const std::string& path, Device device) {
  LoadedModel lm;
  lm.checkpoint = nn::load_checkpoint(path);
  lm.config = config_from_json(lm.checkpoint.get("config"));
  lm.model = build_image_model(lm.config);
  nn::restore(lm.checkpoint, *lm.model, nullptr, false);
  lm.model->to(device);
  lm.model->eval();
  return lm;
}

ImageFlow& LoadedModel::flow(const char* what) const {
  auto* f = dynamic_cast<ImageFlow*>(model.get());
  FG_CHECK(f, "{}: {} holds a {} model ({}); this command needs a coupling flow", what, checkpoint.path, config.name,
           model->family());
  return *f;
}

}  // namespace fg::flows
