// The model registry (flowgrad/flows/models.h): the built-in entries, lookups, configs as JSON,
// and rebuilding a model from a checkpoint.
#include <cmath>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>

#include "flowgrad/flows/continuous/image_fm.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/flows/residual/resflow.h"

namespace fg::flows {

namespace {

// The tutorial's counts (v1 = the seed's code, v2 = the revised tutorial)
std::function<int64_t(const ModelConfig&)> tutorial(int64_t v1, int64_t v2) {
  return [=](const ModelConfig& c) { return c.arch == Arch::V1 ? v1 : v2; };
}

std::shared_ptr<ImageModel> with_samples(std::shared_ptr<ImageFlow> m, const ModelConfig& c) {
  m->import_samples = c.import_samples;
  return m;
}

ModelEntry flow_matching_entry(const char* name, const char* help, Matcher matcher, double sigma) {
  return {name, help, Family::FlowMatching,
          [matcher, sigma](const ModelConfig& c) -> std::shared_ptr<ImageModel> {
            const double s = c.option("fm_sigma");
            const bool cond = c.conditioning != Conditioning::None;
            return std::make_shared<ImageFM>(matcher, c.int_option("fm_channels"), s >= 0 ? s : sigma,
                                             Shape{1, 28, 28}, cond ? c.num_classes : 0, cond ? c.cfg_drop : 0.0);
          },
          {{"fm_channels", 48, 8, 512, true, "the U-Net's base width"},
           {"fm_sigma", -1, -1, 0.999, false, "the path's sigma (-1: 1e-4 for fm, 0 for ot-cfm)"}},
          [](const ModelConfig& c) { return c.int_option("fm_channels") == 48 ? int64_t{1106737} : int64_t{-1}; }};
}

std::deque<ModelEntry> builtin() {
  std::deque<ModelEntry> r;
  r.push_back({"simple", "Dequantization + 8 checkerboard couplings", Family::Coupling,
               [](const ModelConfig& c) { return with_samples(create_simple_flow(false, c.arch, c.additive, c.conditioning, c.num_classes), c); },
               {}, tutorial(335128, 556312)});
  r.push_back({"vardeq", "variational dequantization + 8 checkerboard couplings", Family::Coupling,
               [](const ModelConfig& c) { return with_samples(create_simple_flow(true, c.arch, c.additive, c.conditioning, c.num_classes), c); },
               {}, tutorial(379556, 628388)});
  r.push_back({"multiscale", "squeeze/split, 3 scales (the tutorial's best)", Family::Coupling,
               [](const ModelConfig& c) { return with_samples(create_multiscale_flow(c.arch, c.additive, c.conditioning, c.num_classes), c); },
               {}, tutorial(1062090, 1711818)});
  // not the tutorial's: the PyTorch peer's (../shared/peer/README.md), K 8, hidden 128
  r.push_back({"glow", "Glow: ActNorm, LU 1x1 conv, affine coupling; 2 scales", Family::Coupling,
               [](const ModelConfig& c) {
                 return with_samples(create_glow(static_cast<int>(c.int_option("glow_k")),
                                                 static_cast<int>(c.int_option("glow_hidden")), c.conditioning,
                                                 c.num_classes), c);
               },
               {{"glow_k", 8, 1, 64, true, "steps per scale"}, {"glow_hidden", 128, 1, 4096, true, "coupling network width"}},
               [](const ModelConfig& c) {
                 return c.int_option("glow_k") == 8 && c.int_option("glow_hidden") == 128 ? int64_t{433792} : int64_t{-1};
               }});
  r.push_back({"resflow", "Residual Flow: spectral-normalized residual blocks, Russian-roulette log-det",
               Family::Residual,
               [](const ModelConfig& c) {
                 ResFlowConfig rc;
                 rc.blocks = static_cast<int>(c.int_option("resflow_blocks"));
                 rc.hidden = c.int_option("resflow_hidden");
                 rc.fc_blocks = static_cast<int>(c.int_option("resflow_fc"));
                 rc.fc_hidden = c.int_option("resflow_fc_hidden");
                 return with_samples(create_resflow(rc), c);
               },
               {{"resflow_blocks", 4, 1, 64, true, "residual blocks per scale (the paper: 16)"},
                {"resflow_hidden", 64, 4, 1024, true, "the residual nets' hidden channels (the paper: 512)"},
                {"resflow_fc", 2, 0, 16, true, "fully connected blocks at the end (the paper: 4)"},
                {"resflow_fc_hidden", 128, 4, 4096, true, "their hidden width (the paper: 128)"}},
               [](const ModelConfig& c) {
                 const ResFlowConfig p = ResFlowConfig::paper();
                 return c.int_option("resflow_blocks") == p.blocks && c.int_option("resflow_hidden") == p.hidden &&
                                c.int_option("resflow_fc") == p.fc_blocks && c.int_option("resflow_fc_hidden") == p.fc_hidden
                            ? int64_t{16608589}
                            : int64_t{-1};
               }});
  r.push_back(flow_matching_entry("fm", "flow matching (Lipman et al.), U-Net velocity", Matcher::FM, 1e-4));
  r.push_back(flow_matching_entry("ot-cfm", "OT-CFM (Tong et al.), U-Net velocity", Matcher::OTCFM, 0.0));
  return r;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::deque<ModelEntry>& entries() {  // a deque: entries stay put as models are added
  static std::deque<ModelEntry> e = builtin();
  return e;
}

}  // namespace

const char* family_name(Family f) {
  return f == Family::Coupling ? "coupling flow" : f == Family::FlowMatching ? "flow matching" : "residual flow";
}

const std::deque<ModelEntry>& model_registry() { return entries(); }

const ModelEntry& model_entry(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const ModelEntry& e : entries())
    if (e.name == name) return e;
  std::vector<std::string> names;
  for (const ModelEntry& e : entries()) names.push_back(e.name);
  fail(fmt::format("unknown model '{}': expected one of {}", printable(name), fmt::join(names, ", ")));
}

void register_model(ModelEntry entry) {
  FG_CHECK(!entry.name.empty() && entry.build, "register_model: an entry needs a name and a builder");
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const ModelEntry& e : entries())
    FG_CHECK(e.name != entry.name, "register_model: a model named '{}' is already registered", entry.name);
  entries().push_back(std::move(entry));
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& e : model_registry()) names.push_back(e.name);
  return names;
}

std::vector<std::string> model_names(Family family) {
  std::vector<std::string> names;
  for (const ModelEntry& e : model_registry())
    if (e.family == family) names.push_back(e.name);
  return names;
}

double ModelConfig::option(const std::string& key) const {
  const ModelEntry& e = model_entry(name);
  for (const ModelOption& o : e.options)
    if (o.key == key) {
      auto it = options.find(key);
      return it == options.end() ? o.value : it->second;
    }
  fail(fmt::format("model '{}' has no option '{}'", name, key));
}

bool ModelConfig::flow_matching() const { return model_entry(name).family == Family::FlowMatching; }

bool ModelConfig::operator==(const ModelConfig& o) const {
  if (name != o.name || arch != o.arch || additive != o.additive || import_samples != o.import_samples ||
      conditioning != o.conditioning ||
      (conditioning != Conditioning::None && (num_classes != o.num_classes || cfg_drop != o.cfg_drop)))
    return false;
  for (const ModelOption& opt : model_entry(name).options)
    if (option(opt.key) != o.option(opt.key)) return false;
  return true;
}

std::shared_ptr<ImageModel> build_image_model(const ModelConfig& cfg) {
  const ModelEntry& e = model_entry(cfg.name);
  FG_CHECK(cfg.conditioning == Conditioning::None || e.family != Family::Residual,
           "model '{}': class conditioning ({}) is built for the coupling flows (simple, vardeq, multiscale, glow) and "
           "flow matching, not for residual flows", cfg.name, conditioning_name(cfg.conditioning));
  for (const auto& [key, value] : cfg.options) cfg.option(key);  // every option set is one of the entry's
  for (const ModelOption& o : e.options) {
    const double v = cfg.option(o.key);
    FG_CHECK(v >= o.lo && v <= o.hi && (!o.integer || v == std::floor(v)), "model '{}': {} = {} is outside {} [{}, {}]",
             cfg.name, o.key, v, o.integer ? "the integers in" : "", o.lo, o.hi);
  }
  std::shared_ptr<ImageModel> m = e.build(cfg);
  FG_CHECK(m, "model '{}': its builder returned nothing", cfg.name);
  return m;
}

std::shared_ptr<ImageFlow> build_model(const ModelConfig& cfg) {
  const ModelEntry& e = model_entry(cfg.name);
  FG_CHECK(is_image_flow(e.family), "model '{}' is a {} model, not a coupling or residual flow", cfg.name,
           family_name(e.family));
  auto m = std::dynamic_pointer_cast<ImageFlow>(build_image_model(cfg));
  FG_CHECK(m, "model '{}' is registered as a coupling flow but its builder made no ImageFlow", cfg.name);
  return m;
}

std::string config_to_json(const ModelConfig& cfg) {
  const ModelEntry& e = model_entry(cfg.name);
  nlohmann::json j{{"model", cfg.name}, {"arch", arch_name(cfg.arch)}, {"additive", cfg.additive},
                   {"import_samples", cfg.import_samples}};
  for (const ModelOption& o : e.options) j[o.key] = cfg.option(o.key);
  if (cfg.conditioning != Conditioning::None) {
    j["conditional"] = conditioning_name(cfg.conditioning);
    j["num_classes"] = cfg.num_classes;
    if (e.family == Family::FlowMatching) j["cfg_drop"] = cfg.cfg_drop;
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
    c.conditioning = parse_conditioning(j.value("conditional", std::string("none")));
    c.num_classes = j.value("num_classes", int64_t{10});
    c.cfg_drop = j.value("cfg_drop", 0.1);
    for (const ModelOption& o : model_entry(c.name).options)
      if (j.contains(o.key)) c.options[o.key] = j.at(o.key).get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("bad model config '{}': {}", printable(text, 200), e.what()));
  }
  return c;
}

LoadedModel load_model(const std::string& path, Device device, bool use_average) {
  LoadedModel lm;
  lm.checkpoint = nn::load_checkpoint(path);
  lm.config = config_from_json(lm.checkpoint.get("config"));
  lm.model = build_image_model(lm.config);
  nn::restore(lm.checkpoint, *lm.model, nullptr, false);
  if (use_average && !lm.checkpoint.ema.empty()) {
    nn::EMA average(*lm.model, 0.0);
    try {
      average.load_state_dict(lm.checkpoint.ema);
    } catch (const Error& e) {
      fail(fmt::format("{}: its moving average does not fit the model: {}", path, e.what()));
    }
    average.swap();  // the average becomes the model's weights
    lm.averaged = true;
  }
  lm.model->to(device);
  lm.model->eval();
  return lm;
}

ImageFlow& LoadedModel::flow(const char* what) const {
  auto* f = dynamic_cast<ImageFlow*>(model.get());
  FG_CHECK(f, "{}: {} holds a {} model ({}); this command needs a normalizing flow", what, checkpoint.path, config.name,
           model->family());
  return *f;
}

}  // namespace fg::flows
