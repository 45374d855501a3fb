// Residual Flow models (Chen et al. 2019; rtqichen/residual-flows resflow.py, train_img.py).
//
// Images [C, H, W] (MNIST 1x28x28): the dequantization with residual-flows' logit transform
// (alpha 1e-6 in its convention, 2e-6 in flowgrad's Dequantization), then per scale
//   [ActNorm] blocks x [ResidualBlock(conv net), ActNorm], squeeze (not after the last scale)
// (the first scale starts with an ActNorm and its first block has no pre-activation), and at the
// last scale fc_blocks x [ResidualBlock(FC net on the flattened example), ActNorm per element].
// Every residual net: (LipSwish) SNConv3x3(c->hidden) LipSwish SNConv1x1 LipSwish SNConv3x3(hidden->c);
// the FC one (LipSwish) SNLinear(D->fc_hidden) LipSwish SNLinear LipSwish SNLinear(fc_hidden->D).
// ActNorms initialize with residual-flows' rule. No factor-out: z keeps all D dimensions.
//   paper():    16 blocks per scale, hidden 512, 4 FC blocks of 128: residual-flows' MNIST model
//               (0.97 bpd in the paper), 16,608,589 trained parameters (the reference also
//               registers 104 roulette scalars that never get a gradient: 16,608,693)
//   default:    4 blocks per scale, hidden 64, 2 FC blocks of 128: sized for a CPU
//
// 2-D (normflows' recipe, examples/residual.ipynb): blocks x [ResidualBlock(LipSwish SNLinear(2,
// hidden) LipSwish SNLinear(hidden, hidden) LipSwish SNLinear(hidden, 2), the last layer small),
// ActNorm], coeff 0.9, the log-det exact (2 x 2 Jacobians).
#pragma once
#include "flowgrad/flows/image_flow.h"
#include "flowgrad/flows/residual/iresblock.h"
#include "flowgrad/flows/toy2d.h"

namespace fg::flows {

struct ResFlowConfig {
  int blocks = 4;           // residual blocks per scale
  int64_t hidden = 64;      // the conv nets' hidden channels (the paper's idim)
  int fc_blocks = 2;        // FC blocks at the end (0: none)
  int64_t fc_hidden = 128;
  double coeff = 0.98;      // spectral normalization's bound (train_img.py's --coeff)
  LogDetOptions logdet;     // Poisson(2), 2 exact terms, 20 in evaluation: train_img.py's
  static ResFlowConfig paper();
};

std::shared_ptr<ImageFlow> create_resflow(const ResFlowConfig& cfg, Shape image_shape = {1, 28, 28});

// A residual flow on R^D (2-D densities): blocks x [ResidualBlock(LipSwish MLP D -> hidden -> hidden
// -> D, exact log-det), ActNorm], spectral norms at coeff with 5 power iterations per step.
class ResFlow2D : public DensityFlow {
 public:
  ResFlow2D(int blocks = 16, int64_t hidden = 128, double coeff = 0.9, int64_t dim = 2);
  std::string type_name() const override { return "ResFlow2D"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;

 private:
  std::vector<FlowPtr> layers_;
};

}  // namespace fg::flows
