// Model builders reproducing the tutorial layer for layer.
//   simple:     Dequantization + 8 checkerboard couplings (GatedConvNet c_hidden 32)
//   vardeq:     VariationalDequantization (4 checkerboard couplings, GatedConvNet(2->2, 16))
//               + 8 checkerboard couplings (32)
//   multiscale: vardeq's dequantization + 2 checkerboard couplings (32) + squeeze
//               + 2 channel couplings (c 4, hidden 48) + split + squeeze + 4 channel couplings (c 8, 64)
//   fm, ot-cfm: flow matching (flowgrad/flows/continuous/image_fm.h): a U-Net velocity field (widths 48,
//               96, 96: 1,106,737 parameters) trained by Lipman's FM (sigma_min 1e-4) or by OT-CFM
//               (sigma 0), sampled and scored through an ODE
//   glow:       the PyTorch peer's Glow (../shared/peer/torch_flows.py create_glow): Dequantization
//               + squeeze (4x14x14) + K x GlowStep(4, hidden) + split + squeeze (8x7x7)
//               + K x GlowStep(8, hidden); K 8, hidden 128 by default (433,792 parameters, both archs)
// Arch::V1 is the seed's code (335,128 / 379,556 / 1,062,090 parameters; its Dequantization does not
// undo the alpha squeeze when going back); Arch::V2 the revised tutorial (556,312 / 628,388 /
// 1,711,818; the default).
#pragma once
#include "flowgrad/flows/gated_conv.h"
#include "flowgrad/flows/image_flow.h"
#include "flowgrad/nn/checkpoint.h"

namespace fg::flows {

struct ModelConfig {
  std::string name = "simple";  // simple | vardeq | multiscale | glow
  Arch arch = Arch::V2;
  bool additive = false;        // NICE-style additive couplings instead of affine
  int import_samples = 8;
  int glow_k = 8, glow_hidden = 128;  // glow: steps per scale, coupling-network width
  int fm_channels = 48;               // fm, ot-cfm: the U-Net's base width
  double fm_sigma = -1;               // fm, ot-cfm: the path's sigma (-1: 1e-4 for fm, 0 for ot-cfm)
  bool flow_matching() const { return name == "fm" || name == "ot-cfm"; }
};

std::shared_ptr<ImageFlow> create_simple_flow(bool use_vardeq, Arch arch = Arch::V2, bool additive = false);
std::shared_ptr<ImageFlow> create_multiscale_flow(Arch arch = Arch::V2, bool additive = false);
std::shared_ptr<ImageFlow> create_glow(int k = 8, int hidden = 128);
// The config as a JSON object string (stored in checkpoints) and back; throws on bad JSON/values.
std::string config_to_json(const ModelConfig& cfg);
ModelConfig config_from_json(const std::string& json);
// Throws naming the allowed names on an unknown model. build_model: the coupling flows only;
// build_image_model: any model of model_names().
std::shared_ptr<ImageFlow> build_model(const ModelConfig& cfg);
std::shared_ptr<ImageModel> build_image_model(const ModelConfig& cfg);
const std::vector<std::string>& model_names();           // every model
const std::vector<std::string>& coupling_model_names();  // the coupling flows (build_model's)
// The tutorial's parameter count for a builder, or -1 when it gives none.
int64_t tutorial_param_count(const std::string& name, Arch arch);

// A model rebuilt from a checkpoint written by the training loop, whose metadata holds the model's
// config: built by the config, its weights restored (not the optimizer), moved to `device` and put
// in eval mode. Errors name the file (missing, corrupt, or a config naming no known model).
struct LoadedModel {
  std::shared_ptr<ImageModel> model;
  ModelConfig config;
  nn::Checkpoint checkpoint;
  // The model as a coupling flow; throws naming `what` (the caller) for another family.
  ImageFlow& flow(const char* what) const;
};
LoadedModel load_model(const std::string& path, Device device = Device::cpu());

}  // namespace fg::flows
