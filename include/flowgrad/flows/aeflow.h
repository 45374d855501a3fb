// The seed's autoencoder-flow on MNIST (seeds/000: "Coupling Layer生成Mnist"):
//   x [N,1,28,28] -> enc -> h [N,128] -> 4 x [LinearCoupling, Flip] -> z [N,128] -> dec -> x_hat,
// trained with MSE(x_hat, x). Architecture, parameter names, shapes and initialization follow the
// PyTorch peer (../shared/peer/torch_flows.py: AEFlow, LinearCoupling, Flip):
//   enc  conv(1->32,4,2,1) ReLU conv(32->64,4,2,1) ReLU Flatten Linear(3136->128) ReLU
//   flow 4 x [LinearCoupling(128, hidden 256), Flip]
//   dec  Linear(128->3136) ReLU Unflatten(64,7,7) ConvT(64->32,4,2,1) ReLU ConvT(32->1,4,2,1) Sigmoid
//
// LinearCoupling on a flat vector, x = (x0, x1) split at dim/2:
//   (m, s) = post(enc(pre(x0))), pre Linear(d/2->h), enc Linear(h->h) ReLU Linear(h->h),
//   post Linear(h->d) zero-initialized;  x1' = m + x1 * exp(logs);  ldj += sum(logs).
//   literal (the seed / the peer): logs = s, unbounded.
//   bounded (the default "stable" variant): logs = tanh(s / e^f) * e^f with a learnable per-dim
//     factor f ("scaling_factor", zero-init), the tutorial's coupling bound (flowgrad/flows/coupling.h):
//     |logs| < e^f, so one coupling scales a coordinate by at most exp(e^f).
// Loss: MSE (literal); stable adds 0.01 * |z|^2 / (2 * 128), the Gaussian part of the latent NLL
// (AEFlowConfig::nll_weight / nll_mode).
// Flip reverses the feature order (torch.flip(x, [1]), as the peer; the seed swaps the halves -
// both are permutations with log-det 0).
//
// Why the literal model diverges and what the stable variant changes: see apps/aeflow/README.md.
#pragma once
#include "flowgrad/flows/flow.h"
#include "flowgrad/nn/layers.h"

namespace fg::flows {

class LinearCoupling : public Flow {
 public:
  LinearCoupling(int64_t dim, int64_t hidden, bool bounded);
  std::string type_name() const override { return bounded_ ? "LinearCoupling(bounded)" : "LinearCoupling"; }
  std::string extra_repr() const override;
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  bool bounded() const { return bounded_; }
  // max |logs| over the batch at the last forward/reverse (NaN if none yet); only recorded while
  // record_stats is on (one small reduction per call).
  double last_max_abs_logs() const { return last_max_abs_logs_; }
  bool record_stats = false;

  std::shared_ptr<nn::Linear> pre, post;
  std::shared_ptr<nn::Sequential> enc;
  Var scaling_factor;  // [dim - dim/2], bounded only

 private:
  // shift m and log-scale logs for the transformed half, from the conditioning half x0
  void shift_logscale(const Var& x0, Var& m, Var& logs);
  int64_t dim_, half_, hidden_;
  bool bounded_;
  double last_max_abs_logs_ = NAN;
};

class Flip : public Flow {
 public:
  std::string type_name() const override { return "Flip"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
};

// Differentiable reversal of dim 1 of a [N, D] tensor (its own gradient).
Var flip_features(const Var& x);

// The stable default's weight of the latent NLL term (see apps/aeflow/README.md).
constexpr double kStableNllWeight = 0.01;

struct AEFlowConfig {
  std::string variant = "stable";  // "stable" (bounded couplings) or "literal" (the seed's exp(logs))
  int64_t latent = 128, hidden = 256, n_flows = 4;
  // adds nll_weight * NLL(z) (nats/dim) to the MSE loss; stable: 0.01, literal (MSE only): 0
  double nll_weight = kStableNllWeight;
  // what the weighted term is: "prior" (default) only the Gaussian part of the NLL, |z|^2 / (2 latent);
  // "joint" the whole NLL -(log N(z) + ldj) / latent through encoder and flow (the peer's
  // --nll-weight); "detach" the whole NLL of flow(h.detach()) (the flow fits the density of h, the
  // encoder is trained by the MSE alone). See apps/aeflow/README.md for why "prior".
  std::string nll_mode = "prior";
  bool bounded() const { return variant != "literal"; }
};
// "stable" or "literal" (throws fg::Error otherwise); nll_weight < 0 picks the variant's default
// (stable: kStableNllWeight, literal: 0, the seed's MSE only).
AEFlowConfig aeflow_config(const std::string& variant, double nll_weight = -1);
std::string aeflow_config_to_json(const AEFlowConfig& c);
AEFlowConfig aeflow_config_from_json(const std::string& s);

class AEFlow : public nn::Module {
 public:
  explicit AEFlow(const AEFlowConfig& cfg = {});
  std::string type_name() const override { return "AEFlow"; }

  // Everything one training step computes. x: the images as floats in [0, 1].
  struct Pass {
    Var x, h, z, ldj, recon;  // ldj [N]
    Var mse, nll, loss;       // scalars; nll = -(ldj + log N(z)) / latent (nats/dim), always
                              // computed; loss = mse + nll_weight * (the nll_mode's term)
  };
  Pass run(const Tensor& imgs);
  Var loss(const Tensor& imgs) { return run(imgs).loss; }

  // Images (U8 0..255, or floats in [0, 1]) as floats in [0, 1] of the model's dtype.
  Tensor to_unit(const Tensor& imgs) const;
  Var encode(const Tensor& imgs);                  // h [N, latent]
  void flow_forward(Var& h, Var& ldj);             // h -> z
  void flow_reverse(Var& z, Var& ldj);             // z -> h
  Var decode(const Var& z);                        // [N, 1, 28, 28] in (0, 1)
  Tensor reconstruct(const Tensor& imgs);          // no grad
  Tensor sample(int64_t n, Generator* g = nullptr);  // dec(z), z ~ N(0, I); no grad

  // Per-coupling stats of the last pass (see LinearCoupling::record_stats).
  void set_record_stats(bool on);
  double last_max_abs_logs() const;

  const AEFlowConfig& config() const { return cfg_; }
  DType dtype() const;
  std::shared_ptr<nn::Sequential> enc, dec, flows;  // flows: a container (children "0".."7")
  std::vector<std::shared_ptr<LinearCoupling>> couplings;

 private:
  AEFlowConfig cfg_;
  std::vector<FlowPtr> flow_list_;
};

}  // namespace fg::flows
