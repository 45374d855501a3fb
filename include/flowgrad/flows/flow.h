// The flow-layer interface. forward maps data towards the latent space, reverse maps back; each
// adds the log|det J| of the direction it takes to the per-example ldj [N] (so reverse adds the
// negative of what forward added). `cond` is an optional conditioning input (the image, for the
// variational dequantization's flows).
#pragma once
#include "flowgrad/nn/module.h"

namespace fg::flows {

using ag::Var;

class Flow : public nn::Module {
 public:
  virtual void forward(Var& z, Var& ldj, const Var* cond = nullptr) = 0;
  virtual void reverse(Var& z, Var& ldj, const Var* cond = nullptr) = 0;
  // Shape of forward's output for an input of shape `in` (identity unless the layer reshapes).
  virtual Shape output_shape(const Shape& in) const { return in; }
};

using FlowPtr = std::shared_ptr<Flow>;

// sum over all dims but the first: [N, ...] -> [N]
inline Var sum_except_batch(const Var& x) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return ag::sum(x, dims);
}

// log N(z; 0, 1) elementwise
inline Var std_normal_log_prob(const Var& z) { return ag::affine(ag::square(z), -0.5, -0.9189385332046727); }

}  // namespace fg::flows
