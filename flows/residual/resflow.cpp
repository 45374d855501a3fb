// Residual Flow models (see the header).
#include "flowgrad/flows/residual/resflow.h"

#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/multiscale.h"
#include "flowgrad/flows/toy2d.h"

namespace fg::flows {

ResFlowConfig ResFlowConfig::paper() {
  ResFlowConfig c;
  c.blocks = 16;
  c.hidden = 512;
  c.fc_blocks = 4;
  c.fc_hidden = 128;
  return c;
}

std::shared_ptr<ImageFlow> create_resflow(const ResFlowConfig& cfg, Shape image_shape) {
  FG_CHECK(image_shape.size() == 3, "create_resflow: image shape must be [C, H, W], got {}", shape_str(image_shape));
  FG_CHECK(cfg.blocks >= 1 && cfg.hidden >= 1 && cfg.fc_blocks >= 0 && cfg.fc_hidden >= 1,
           "create_resflow: needs blocks >= 1, hidden >= 1, fc_blocks >= 0 and fc_hidden >= 1");
  int64_t c = image_shape[0], h = image_shape[1], w = image_shape[2];
  int scales = 0;  // residual-flows' _calc_n_scale: halvings while both sides are at least 4
  for (int64_t hh = h, ww = w; hh >= 4 && ww >= 4; hh /= 2, ww /= 2) ++scales;
  SpectralNormOptions sn;
  sn.coeff = cfg.coeff;
  std::vector<FlowPtr> flows;
  int index = 0;
  auto block = [&](std::shared_ptr<LipschitzNet> net) {
    flows.push_back(std::make_shared<ResidualBlock>(net, cfg.logdet, InverseOptions{}, fmt::format("residual block {}", index++)));
  };
  for (int s = 0; s < scales; ++s) {
    if (s == 0) flows.push_back(std::make_shared<ActNorm>(c, 4, ActNormInit::ResFlow));
    for (int b = 0; b < cfg.blocks; ++b) {
      block(lipschitz_conv_net(c, cfg.hidden, h, w, /*preact=*/!(s == 0 && b == 0), sn));
      flows.push_back(std::make_shared<ActNorm>(c, 4, ActNormInit::ResFlow));
    }
    if (s + 1 < scales) {
      FG_CHECK(h % 2 == 0 && w % 2 == 0, "create_resflow: scale {} is {}x{}, which does not squeeze", s, h, w);
      flows.push_back(std::make_shared<SqueezeFlow>());
      c *= 4;
      h /= 2;
      w /= 2;
    }
  }
  for (int b = 0; b < cfg.fc_blocks; ++b) {
    block(lipschitz_mlp(c * h * w, cfg.fc_hidden, 2, /*preact=*/true, sn));
    flows.push_back(ActNorm::elementwise({c, h, w}, ActNormInit::ResFlow));
  }
  // residual-flows' LogitTransform(1e-6) maps x to alpha + (1 - 2 alpha) x: Dequantization's alpha is 2e-6
  return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(2e-6, true), flows, image_shape);
}

// ---- 2-D

ResFlow2D::ResFlow2D(int blocks, int64_t hidden, double coeff, int64_t dim) : DensityFlow(dim) {
  FG_CHECK(blocks >= 1 && hidden >= 1 && dim >= 1, "ResFlow2D: needs blocks, hidden and dim >= 1");
  SpectralNormOptions sn;
  sn.coeff = coeff;
  sn.max_iters = 5;  // normflows' max_lipschitz_iter per step
  LogDetOptions exact;
  exact.brute_force = true;
  for (int b = 0; b < blocks; ++b) {
    auto block = std::make_shared<ResidualBlock>(lipschitz_mlp(dim, hidden, 2, /*preact=*/true, sn, /*small_last=*/true),
                                                 exact, InverseOptions{}, fmt::format("residual block {}", b));
    auto norm = std::make_shared<ActNorm>(dim, 2, ActNormInit::Glow);
    register_module(fmt::format("flows.{}", 2 * b), block);
    register_module(fmt::format("flows.{}", 2 * b + 1), norm);
    layers_.push_back(block);
    layers_.push_back(norm);
  }
}

void ResFlow2D::forward(Var& z, Var& ldj, const FlowArgs& a) {
  for (auto& f : layers_) f->forward(z, ldj, a);
}

void ResFlow2D::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) (*it)->reverse(z, ldj, a);
}


}  // namespace fg::flows
