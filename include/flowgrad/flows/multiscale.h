// Multi-scale pieces. SqueezeFlow: [C, H, W] -> [4C, H/2, W/2], each 2x2 block becoming 4
// channels in the tutorial's order (log-det 0). SplitFlow: factors out the second half of the
// channels under N(0, I), adding its log-density to ldj; reverse draws it again (N(0, T^2) with
// FlowArgs::sample's temperature T and generator) or, given FlowArgs::latents, takes back what
// forward put there (an exact round trip). With a ClassPrior the split-off part is scored and
// drawn under the class's Gaussian instead (FlowArgs::label, needed then).
#pragma once
#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/flow.h"

namespace fg::flows {

class SqueezeFlow : public Flow {
 public:
  std::string type_name() const override { return "SqueezeFlow"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  Shape output_shape(const Shape& in) const override;
};

class SplitFlow : public Flow {
 public:
  // prior: the split-off part's class-conditional Gaussian (registered as `prior`), or null: N(0, I)
  explicit SplitFlow(std::shared_ptr<ClassPrior> prior = nullptr);
  std::string type_name() const override { return "SplitFlow"; }
  int splits() const override { return 1; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  Shape output_shape(const Shape& in) const override;
  ClassPrior* split_prior() const override { return prior_.get(); }

 private:
  std::shared_ptr<ClassPrior> prior_;
};

}  // namespace fg::flows
