// The flow-layer interface. forward maps data towards the latent space, reverse maps back; each
// adds the log|det J| of the direction it takes to the per-example ldj [N] (so reverse adds the
// negative of what forward added). Whatever else a layer may use travels in FlowArgs: a
// conditioning input, the sampling options (temperature, generator) of layers that draw in
// reverse, and the multi-scale latents of an exact round trip.
#pragma once
#include <vector>

#include "flowgrad/flows/continuous/ode.h"
#include "flowgrad/nn/module.h"

namespace fg::flows {

class ClassPrior;  // flowgrad/flows/conditional.h

using ag::Var;

// How a model samples.
struct SampleOptions {
  double temperature = 1.0;        // the prior's standard deviation (also for split-off variables)
  Generator* generator = nullptr;  // the draws' source (the default generator when null)
  ode::Options solver;             // flow matching: the ODE solve (its NFE follows from it)
  int64_t* nfe = nullptr;          // flow matching: receives the solve's function evaluations
  // class-conditional flow matching: classifier-free guidance v = v_null + w (v_y - v_null); 1: v_y
  double guidance = 1.0;
};

// What a flow layer may use besides z and ldj; every field is optional.
struct FlowArgs {
  // A conditioning input (the variational dequantization's flows get the image): a layer that
  // takes one concatenates it to its network's input, or ignores it.
  const Var* cond = nullptr;
  // The class of each example as one-hot rows [N, K] (flows/conditional.h): class-conditioned
  // coupling networks and base distributions use it; every other layer ignores it.
  const Var* label = nullptr;
  // In reverse when sampling: the temperature and generator of layers that draw (SplitFlow).
  const SampleOptions* sample = nullptr;
  // Multi-scale latents: forward appends each split-off part here; reverse takes them back (the
  // last one first) instead of drawing, so decode(encode(x)) is exact.
  std::vector<Tensor>* latents = nullptr;
  // False when the caller discards ldj (sampling): layers whose log-determinant costs work of its
  // own (residual blocks) may skip it.
  bool need_logdet = true;
};

class Flow : public nn::Module {
 public:
  virtual void forward(Var& z, Var& ldj, const FlowArgs& a = {}) = 0;
  virtual void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) = 0;
  // Shape of forward's output for an input of shape `in` (identity unless the layer reshapes).
  virtual Shape output_shape(const Shape& in) const { return in; }
  // How many parts of z this layer factors out (forward appends them to FlowArgs::latents).
  virtual int splits() const { return 0; }
  // The class-conditional Gaussian of the part this layer factors out (SplitFlow under a
  // ClassPrior), or null: how ImageFlow::init_class_priors finds every split's prior.
  virtual ClassPrior* split_prior() const { return nullptr; }
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
