// Flows on R^2 (the seed's sections 9-10 and the usual 2-D density experiments). All act on
// z [N, 2]; forward maps data to the latent space and adds log|det J| per example to ldj [N]
// (the flows::Flow convention), so log p(x) = sum_i log N(z_i; 0, 1) + ldj (flow_log_prob).
//
//   LinearFlow2D:     z = A x + b for each example (rows: z = x A^T + b); ldj += log|det A|.
//                     Reverse: x = A^{-1} (z - b).
//   AffineCoupling2D: one coordinate x_c passes through and conditions the other x_k:
//                     z_c = x_c, z_k = x_k * exp(s(x_c)) + t(x_c); ldj += s(x_c). With
//                     transformed = 1 this is exactly the seed's section 9.2 layer
//                     (z1 = x1, z2 = x2 e^{s(x1)} + t(x1)). Reverse: x_k = (z_k - t(z_c)) e^{-s(z_c)}.
//                     s and t come either from a user function (the worked example) or from a
//                     network [N, 1] -> [N, 2] (raw s, t) with a tanh-bounded scale
//                     s = tanh(raw_s / e^f) e^f, f a learnable scalar (0 at first, so |s| < 1),
//                     the bound used by flowgrad/flows/coupling.h.
//   RealNVP2D:        `layers` MLP couplings alternating which coordinate is transformed
//                     (x2 first, then x1, ...). Each MLP: Linear(1, H), ReLU, Linear(H, H), ReLU,
//                     Linear(H, 2), the last layer zero-initialized so each coupling starts as the
//                     identity (the flow starts as N(0, I)).
#pragma once
#include <functional>
#include <utility>

#include "flowgrad/flows/flow.h"

namespace fg::flows {

// log p(x) = sum over dims 1.. of log N(f(x); 0, 1) + log|det df/dx| for any flow f: [N, D] -> [N]
Var flow_log_prob(Flow& f, const Var& x);

// A flow on vectors [N, dim] with a N(0, I) base: what a density model needs on top of Flow. The
// 2-D likelihood models (RealNVP2D, ResFlow2D) are these.
class DensityFlow : public Flow {
 public:
  explicit DensityFlow(int64_t dim) : dim_(dim) {}
  Var log_prob(const Var& x) { return flow_log_prob(*this, x); }  // [N]
  Var nll(const Var& x);                                           // mean -log p(x), nats (the loss)
  // n draws [n, dim]: z ~ N(0, I) (with g, or the default generator) through the reverse flow,
  // without log-determinants. No grad.
  Tensor sample(int64_t n, Generator* g = nullptr);
  // Mean -log p(x) over x [N, dim] in batches of `batch`, no grad (the test NLL, nats per sample).
  double mean_nll(const Tensor& x, int64_t batch = 4096);
  DType dtype() const;
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
};

class LinearFlow2D : public Flow {
 public:
  LinearFlow2D(Tensor A, Tensor b);  // A [2, 2] invertible, b [2]; both trainable parameters
  std::string type_name() const override { return "LinearFlow2D"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  Var A, b;
};

class AffineCoupling2D : public Flow {
 public:
  // x_c [N, 1] -> (s, t), each [N, 1]
  using ScaleShift = std::function<std::pair<Var, Var>(const Var& x_c)>;
  // Fixed s and t (e.g. the seed's s = 0.5 x1, t = 0.2 x1); `transformed` is 0 or 1.
  AffineCoupling2D(ScaleShift scale_shift, int64_t transformed = 1);
  // Learned s and t: network maps [N, 1] -> [N, 2] (raw s, t); the scale is tanh-bounded.
  AffineCoupling2D(nn::ModulePtr network, int64_t transformed);
  std::string type_name() const override { return "AffineCoupling2D"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  int64_t transformed() const { return transformed_; }

 private:
  std::pair<Var, Var> scale_shift(const Var& x_c);
  ScaleShift fn_;
  nn::ModulePtr network_;
  Var scaling_factor_;
  int64_t transformed_;
};

// The coupling MLP: Linear(1, hidden), ReLU, Linear(hidden, hidden), ReLU, Linear(hidden, 2),
// last layer zeroed.
nn::ModulePtr coupling_mlp_2d(int64_t hidden);

class RealNVP2D : public DensityFlow {
 public:
  RealNVP2D(int64_t layers = 8, int64_t hidden = 64);
  std::string type_name() const override { return "RealNVP2D"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  const std::vector<std::shared_ptr<AffineCoupling2D>>& couplings() const { return couplings_; }

 private:
  std::vector<std::shared_ptr<AffineCoupling2D>> couplings_;
};

}  // namespace fg::flows
