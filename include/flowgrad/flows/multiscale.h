// Multi-scale pieces. SqueezeFlow: [C, H, W] -> [4C, H/2, W/2], each 2x2 block becoming 4
// channels in the tutorial's order (log-det 0). SplitFlow: factors out the second half of the
// channels under N(0, I), adding its log-density to ldj; reverse draws it again (times
// `temperature`) or takes it from `stash` (exact inversion in tests).
#pragma once
#include "flowgrad/flows/flow.h"

namespace fg::flows {

class SqueezeFlow : public Flow {
 public:
  std::string type_name() const override { return "SqueezeFlow"; }
  void forward(Var& z, Var& ldj, const Var* cond = nullptr) override;
  void reverse(Var& z, Var& ldj, const Var* cond = nullptr) override;
  Shape output_shape(const Shape& in) const override;
};

class SplitFlow : public Flow {
 public:
  std::string type_name() const override { return "SplitFlow"; }
  void forward(Var& z, Var& ldj, const Var* cond = nullptr) override;
  void reverse(Var& z, Var& ldj, const Var* cond = nullptr) override;
  Shape output_shape(const Shape& in) const override;
  double temperature = 1.0;
  Generator* generator = nullptr;
  std::vector<Tensor>* stash = nullptr;  // when set: forward pushes z_split, reverse pops it
};

}  // namespace fg::flows
