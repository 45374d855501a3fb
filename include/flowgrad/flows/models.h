// The image models, in one registry: each entry names a model, its family, its builder, its own
// options and the parameter count its reference reports. train_mnist's --model choices and help,
// the per-model options (--glow-k, ...), the config stored in checkpoints and every tool that
// rebuilds a model from a checkpoint read this table, so adding a model is one entry and its
// builder (register_model, also for models defined outside flowgrad).
//
// The built-in models reproduce the tutorial layer for layer:
//   simple:     Dequantization + 8 checkerboard couplings (GatedConvNet c_hidden 32)
//   vardeq:     VariationalDequantization (4 checkerboard couplings, GatedConvNet(2->2, 16))
//               + 8 checkerboard couplings (32)
//   multiscale: vardeq's dequantization + 2 checkerboard couplings (32) + squeeze
//               + 2 channel couplings (c 4, hidden 48) + split + squeeze + 4 channel couplings (c 8, 64)
//   glow:       the PyTorch peer's Glow (../shared/peer/torch_flows.py create_glow): Dequantization
//               + squeeze (4x14x14) + K x GlowStep(4, hidden) + split + squeeze (8x7x7)
//               + K x GlowStep(8, hidden); K 8, hidden 128 by default (433,792 parameters, both archs)
//   fm, ot-cfm: flow matching (flows/continuous/image_fm.h): a U-Net velocity field (widths 48,
//               96, 96: 1,106,737 parameters) trained by Lipman's FM (sigma_min 1e-4) or by OT-CFM
//               (sigma 0), sampled and scored through an ODE
//   resflow:    a Residual Flow (flows/residual/resflow.h): residual-flows' MNIST architecture,
//               4 blocks per scale of width 64 and 2 FC blocks by default (sized for a CPU); the
//               paper's is --resflow-blocks 16 --resflow-hidden 512 --resflow-fc 4 (16,608,589)
// Arch::V1 is the seed's code (335,128 / 379,556 / 1,062,090 parameters; its Dequantization does not
// undo the alpha squeeze when going back); Arch::V2 the revised tutorial (556,312 / 628,388 /
// 1,711,818; the default).
#pragma once
#include <deque>
#include <functional>
#include <map>

#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/gated_conv.h"
#include "flowgrad/flows/image_flow.h"
#include "flowgrad/nn/checkpoint.h"

namespace fg::flows {

enum class Family { Coupling, FlowMatching, Residual };
const char* family_name(Family f);  // "coupling flow", "flow matching", "residual flow"
// Coupling and residual flows are ImageFlows (a log-likelihood by the change of variables, exact or
// estimated); flow-matching models integrate an ODE.
inline bool is_image_flow(Family f) { return f != Family::FlowMatching; }

// A model's own numeric option (glow's steps per scale, ...): its key in configs and JSON (the
// command line spells it with dashes: --glow-k), default, range and one line of help.
struct ModelOption {
  std::string key;
  double value = 0;  // the default
  double lo = 0, hi = 0;
  bool integer = true;
  std::string help;
};

// What builds a model: its registry name, the options every model shares, and its own options
// (the entry's defaults for any not set). Compares equal when it builds the same model.
struct ModelConfig {
  std::string name = "simple";
  Arch arch = Arch::V2;         // GatedConv variant (coupling flows with GatedConvNets)
  bool additive = false;        // NICE-style additive couplings instead of affine
  int import_samples = 8;       // dequantization draws of the test bpd
  // class conditioning (coupling flows): the base distribution, the coupling nets or both; stored
  // in the config (as "conditional" and "num_classes") only when not none, so older configs read back
  // (flow matching: any setting but none is its class embedding, trained with labels dropped to
  // the null class with probability cfg_drop, stored as "cfg_drop")
  Conditioning conditioning = Conditioning::None;
  int64_t num_classes = 10;
  double cfg_drop = 0.1;
  std::map<std::string, double> options;
  // The option's value: set here, else the entry's default; throws naming the model and the key
  // when its entry has no such option.
  double option(const std::string& key) const;
  int64_t int_option(const std::string& key) const { return static_cast<int64_t>(option(key)); }
  bool flow_matching() const;  // its entry's family
  bool operator==(const ModelConfig& o) const;  // an option left unset equals its default
};

struct ModelEntry {
  std::string name, help;  // help: one line for --model's list
  Family family = Family::Coupling;
  std::function<std::shared_ptr<ImageModel>(const ModelConfig&)> build;
  std::vector<ModelOption> options;
  // The parameter count its reference reports for this config (the tutorial, the peer, the
  // paper), or -1; tests hold the builder to it.
  std::function<int64_t(const ModelConfig&)> reference_params = [](const ModelConfig&) { return int64_t{-1}; };
};

const std::deque<ModelEntry>& model_registry();
// Throws "unknown model 'x': expected one of ..." naming every registered model.
const ModelEntry& model_entry(const std::string& name);
// Adds a model (e.g. one defined in your own program) so that every tool built on the registry
// knows it; throws if the name is taken.
void register_model(ModelEntry entry);
std::vector<std::string> model_names();                 // every model, in registry order
std::vector<std::string> model_names(Family family);    // those of one family

// The model a config names, built (weights initialized from the default generator). build_model
// is the same for the coupling and residual flows, returning the ImageFlow; it throws for others.
std::shared_ptr<ImageModel> build_image_model(const ModelConfig& cfg);
std::shared_ptr<ImageFlow> build_model(const ModelConfig& cfg);
// The config as a JSON object string (stored in checkpoints: the shared fields and the entry's
// options) and back, the entry's defaults filling options the JSON lacks; throws on bad JSON,
// an unknown model or a value outside an option's range.
std::string config_to_json(const ModelConfig& cfg);
ModelConfig config_from_json(const std::string& json);

// The tutorial's builders, for composing variants.
// cond != None: class-conditional over num_classes classes (flows/conditional.h): a ClassPrior at
// the top and at every split, and/or a class embedding in every coupling network (not in the
// variational dequantization's, which sees the image itself).
std::shared_ptr<ImageFlow> create_simple_flow(bool use_vardeq, Arch arch = Arch::V2, bool additive = false,
                                              Conditioning cond = Conditioning::None, int64_t num_classes = 10);
std::shared_ptr<ImageFlow> create_multiscale_flow(Arch arch = Arch::V2, bool additive = false,
                                                  Conditioning cond = Conditioning::None, int64_t num_classes = 10);
std::shared_ptr<ImageFlow> create_glow(int k = 8, int hidden = 128, Conditioning cond = Conditioning::None,
                                       int64_t num_classes = 10);

// A model rebuilt from a checkpoint written by the training loop, whose metadata holds the model's
// config: built by the config, its weights restored (the moving average where the checkpoint has
// one, unless use_average is false; not the optimizer), moved to `device` and put in eval mode.
// Errors name the file (missing, corrupt, or a config naming no known model).
struct LoadedModel {
  std::shared_ptr<ImageModel> model;
  ModelConfig config;
  nn::Checkpoint checkpoint;
  bool averaged = false;  // the weights are the checkpoint's moving average (ema.*)
  // The model as a coupling flow; throws naming `what` (the caller) for another family.
  ImageFlow& flow(const char* what) const;
};
LoadedModel load_model(const std::string& path, Device device = Device::cpu(), bool use_average = true);

}  // namespace fg::flows
