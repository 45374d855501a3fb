// Lipschitz-constrained layers for residual flows (Behrmann et al. 2019; Chen et al. 2019, the
// reference code rtqichen/residual-flows: layers/base/mixed_lipschitz.py, activations.py).
//
// Spectral normalization: a linear or conv layer uses W / max(1, sigma / coeff), sigma = u^T W v,
// with u and v the power iteration's estimates of W's top singular vectors, kept as buffers (saved
// in checkpoints). sigma is recomputed from the current W at every forward (differentiable in W);
// u and v move only when update() runs the power iteration (at construction, and after every
// optimizer step through nn::Module::weights_changed()), to atol = rtol = tol or max_iters. For a
// conv the iteration runs on the whole operator: u = conv(v) / |.|, v = conv_transpose(u) / |.|
// on input-shaped vectors (so the layer needs its input's spatial size); a 1x1 conv and a linear
// layer iterate on the matrix. Its Lipschitz constant (spectral norm) is then at most coeff, up to
// the power iteration's tolerance.
//
// LipSwish: x sigmoid(beta x) / 1.1, beta = softplus(b) with b learned (0.5 at init); its
// Lipschitz constant is below 1 for every beta.
//
// Every layer also gives its forward-mode derivative: forward_jvp(x, dx) returns y and J dx as
// differentiable Vars, which the residual block's memory-saving log-det gradient needs.
#pragma once
#include <utility>

#include "flowgrad/nn/layers.h"

namespace fg::flows {

using ag::Var;

struct SpectralNormOptions {
  double coeff = 0.97;  // the bound on each layer's spectral norm (residual-flows uses 0.98 for images)
  double tol = 1e-3;    // power iteration: atol = rtol of u and v's change per iteration
  int max_iters = 200;  // power iteration cap per update
};

// y = x W_eff^T + b for x [..., in]
class SNLinear : public nn::Module {
 public:
  SNLinear(int64_t in, int64_t out, const SpectralNormOptions& o = {});
  std::string type_name() const override { return "SNLinear"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;
  std::pair<Var, Var> forward_jvp(const Var& x, const Var& dx);
  Var weight_eff();                        // W / max(1, u^T W v / coeff)
  int update(int max_iters = -1);          // power iteration; returns the iterations run
  double sigma();                          // u^T W v (a host read)
  void on_weights_changed() override { update(); }
  Var weight, bias;  // [out, in], [out]
  Var u, v;          // buffers [out], [in]

 private:
  SpectralNormOptions o_;
};

// A stride-1 conv with padding k/2 on inputs of channels in and spatial size h x w (fixed: the
// power iteration runs on that operator).
class SNConv2d : public nn::Module {
 public:
  SNConv2d(int64_t in, int64_t out, int64_t k, int64_t h, int64_t w, const SpectralNormOptions& o = {});
  std::string type_name() const override { return "SNConv2d"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;
  std::pair<Var, Var> forward_jvp(const Var& x, const Var& dx);
  Var weight_eff();
  int update(int max_iters = -1);
  double sigma();
  void on_weights_changed() override { update(); }
  Var weight, bias;  // [out, in, k, k], [out]
  Var u, v;          // buffers: k > 1: [1, out, h, w] and [1, in, h, w]; k == 1: [out] and [in]

 private:
  Var operator_sigma(const Var& w);  // u^T op(w) v
  int64_t in_, out_, k_, h_, w_;
  SpectralNormOptions o_;
};

// x sigmoid(b x) / 1.1 with b = softplus(beta) (beta a one-element Var), and its derivative
// applied to dx; both differentiable in x and beta.
Var lipswish(const Var& x, const Var& beta);
std::pair<Var, Var> lipswish_jvp(const Var& x, const Var& dx, const Var& beta);

class LipSwish : public nn::Module {
 public:
  LipSwish();
  std::string type_name() const override { return "LipSwish"; }
  Var forward(const Var& x) override;
  std::pair<Var, Var> forward_jvp(const Var& x, const Var& dx);
  Var beta;  // [1]: the raw parameter; the slope is softplus(beta)
};

// The residual function of a block: a sequence of SNConv2d / SNLinear / LipSwish layers, applied in
// order; a net that starts with a linear layer flattens an [N, ...] input to [N, D] and shapes its
// output back. Children are named by index ("0", "1", ...).
class LipschitzNet : public nn::Module {
 public:
  LipschitzNet() = default;
  LipschitzNet& add(std::shared_ptr<SNConv2d> l);
  LipschitzNet& add(std::shared_ptr<SNLinear> l);
  LipschitzNet& add(std::shared_ptr<LipSwish> l);
  std::string type_name() const override { return "LipschitzNet"; }
  Var forward(const Var& x) override;
  // g(x) and J_g(x) dx, both differentiable (forward-mode through every layer)
  std::pair<Var, Var> forward_jvp(const Var& x, const Var& dx);

 private:
  struct Layer {
    std::shared_ptr<SNConv2d> conv;
    std::shared_ptr<SNLinear> linear;
    std::shared_ptr<LipSwish> act;
  };
  void add_layer(Layer l, nn::ModulePtr m);
  std::vector<Layer> layers_;
};

// The residual nets of residual-flows: conv (LipSwish) conv3x3(c->hidden) LipSwish conv1x1 LipSwish
// conv3x3(hidden->c) at h x w (preact: a LipSwish first), and the FC one on flattened features
// (LipSwish) linear(d->hidden) LipSwish linear(hidden->hidden) LipSwish linear(hidden->d).
std::shared_ptr<LipschitzNet> lipschitz_conv_net(int64_t c, int64_t hidden, int64_t h, int64_t w, bool preact,
                                                 const SpectralNormOptions& o = {});
// small_last: the last layer's weight divided by 1000 (normflows' init_zeros), so the block starts
// near the identity.
std::shared_ptr<LipschitzNet> lipschitz_mlp(int64_t d, int64_t hidden, int hidden_layers, bool preact,
                                            const SpectralNormOptions& o = {}, bool small_last = false);

}  // namespace fg::flows
