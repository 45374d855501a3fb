// Masked coupling layers. Affine (RealNVP, the tutorial's):
//   z' = (z + t) * exp(s) on the unmasked part (mask 0), with s = tanh(s / e^f) * e^f and f a
//   learnable per-channel scaling factor; ldj += sum(s).
// Additive (NICE): z' = z + t; ldj unchanged; the network outputs only t.
// Masks: 1 marks the elements fed to the network, 0 those transformed.
#pragma once
#include "flowgrad/flows/flow.h"

namespace fg::flows {

class GatedConvNet;

Tensor checkerboard_mask(int64_t h, int64_t w, bool invert = false);  // [1, 1, h, w], (i+j)%2
Tensor channel_mask(int64_t c, bool invert = false);                  // [1, c, 1, 1], first c/2 ones

class CouplingLayer : public Flow {
 public:
  // network maps [N, c_in (+ cond channels), H, W] to [N, 2*c_in, H, W] (affine) or c_in (additive)
  CouplingLayer(nn::ModulePtr network, Tensor mask, int64_t c_in, bool additive = false);
  // the same with the tutorial's GatedConvNet; a class-conditioned one is given the labels
  // (FlowArgs::label) on every call
  CouplingLayer(std::shared_ptr<GatedConvNet> network, Tensor mask, int64_t c_in, bool additive = false);
  std::string type_name() const override { return additive_ ? "AdditiveCoupling" : "CouplingLayer"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;

 private:
  // s (already bounded and masked; undefined when additive) and t (masked)
  void scale_shift(const Var& z, const FlowArgs& a, Var& s, Var& t);
  nn::ModulePtr network_;
  GatedConvNet* class_net_ = nullptr;  // network_ when it is a class-conditioned GatedConvNet
  Var scaling_factor_, mask_;
  bool additive_;
};

}  // namespace fg::flows
