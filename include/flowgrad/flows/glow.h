// Glow's flow steps (Kingma & Dhariwal 2018), matching the PyTorch peer (../shared/peer/
// torch_flows.py: ActNorm, InvConv1x1LU, GlowCoupling, GlowStep) in parameter names, shapes and
// initialization, so that state dicts line up and benchmarks compare like with like.
//   ActNorm:      z' = (z + loc) * exp(logs) per channel; ldj += H*W*sum(logs). Data-dependent
//                 initialization on the first training batch (loc = -mean, logs = -log(std + 1e-6),
//                 unbiased std over N, H, W; residual flows' rule and per-element parameters are
//                 options); whether it happened is the saved buffer
//                 `initialized` (u8, 0-d), so a reloaded model is never re-initialized; the
//                 flag is mirrored on the host (read once at load), so forward reads nothing.
//   InvConv1x1:   z' = W z at every pixel, W [C, C] a random orthogonal matrix at init;
//                 ldj += H*W*log|det W| (slogdet on the hot path).
//   InvConv1x1LU: W = P L (U + diag(sign_s * exp(log_s))), P/sign_s fixed buffers, L unit lower
//                 and U strictly upper through masks; ldj += H*W*sum(log_s), no determinant.
//   GlowCoupling: (za, zb) -> (za, (zb + t) * sigmoid(r + 2)), [t, r] interleaved channels of
//                 NN(za), NN = conv3x3(C/2->h) ReLU conv1x1(h->h) ReLU conv3x3(h->C) with the last
//                 conv zero-initialized; ldj += sum(log sigmoid(r + 2)). The tail after NN is one
//                 fused op (ag::sigmoid_coupling): 655 -> 527 kernel launches a glow eval step (batch 64), median
//                 43.8 -> 42.8 ms (AVX-512, 2 threads, 9 alternating runs).
//   GlowStep:     ActNorm, 1x1 conv (LU by default), coupling; reverse runs them backwards.
// The 1x1 convolutions are a broadcast matmul W [C, C] @ z [N, C, H*W]: NCHW needs only a
// reshape (no permute), and W's gradient is a batched product summed over N. Measured against
// conv2d with W viewed as [C, C, 1, 1] (oneDNN), forward + backward, batch 64, 2 threads:
// C 4 at 14x14 154 vs 265 us, C 8 at 7x7 128 vs 160 us, C 48 at 14x14 2.26 vs 2.95 ms.
#pragma once
#include "flowgrad/flows/conv_chain.h"
#include "flowgrad/flows/flow.h"

namespace fg::flows {

// How ActNorm's data-dependent initialization scales: Glow's logs = -log(std + 1e-6) (unbiased std),
// or residual-flows' logs = -0.5 log(max(var, 0.2)) (unbiased variance, floored).
enum class ActNormInit { Glow, ResFlow };

class ActNorm : public Flow {
 public:
  // Per channel: z [N, C, ...] of any rank >= 2 (rank given here: 4 for images, 2 for vectors),
  // one loc and logs per channel, statistics over the batch and the positions.
  explicit ActNorm(int64_t c, int rank = 4, ActNormInit init = ActNormInit::Glow);
  // Per element: one loc and logs per element of an example of shape `example` ([C, H, W] gives
  // [1, C, H, W] parameters; residual flows' ActNorm1d on flattened features), statistics over
  // the batch only.
  static std::shared_ptr<ActNorm> elementwise(const Shape& example, ActNormInit init = ActNormInit::Glow);
  std::string type_name() const override { return "ActNorm"; }
  std::string extra_repr() const override;
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  bool initialized() const { return initialized_; }
  // The data-dependent initialization itself (forward calls it when training && !initialized).
  void initialize_from(const Tensor& z);
  void on_loaded() override;
  Var loc, logs;        // [1, C, 1, ...] or [1, example...]
  Var initialized_buf;  // u8 [], 0 or 1

 private:
  ActNorm(Shape param_shape, ActNormInit init);
  std::vector<int64_t> stat_dims() const;  // the dims statistics run over
  double positions(const Var& z) const;    // elements of an example per parameter
  Shape param_shape_;
  ActNormInit init_;
  bool initialized_ = false;  // host mirror of initialized_buf
};

// A random orthogonal [c, c] matrix (f64): Gram-Schmidt QR of a standard-normal matrix drawn from
// g (the default generator when null).
Tensor random_orthogonal(int64_t c, Generator* g = nullptr);

class InvConv1x1 : public Flow {
 public:
  explicit InvConv1x1(int64_t c, Generator* g = nullptr);
  std::string type_name() const override { return "InvConv1x1"; }
  std::string extra_repr() const override { return std::to_string(c_); }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  Var weight;  // [C, C]

 private:
  int64_t c_;
};

class InvConv1x1LU : public Flow {
 public:
  explicit InvConv1x1LU(int64_t c, Generator* g = nullptr);
  // LU-parametrizes a given invertible matrix w [c, c], keeping its dtype (tests: compare with
  // InvConv1x1).
  InvConv1x1LU(const Tensor& w);
  std::string type_name() const override { return "InvConv1x1LU"; }
  std::string extra_repr() const override { return std::to_string(c_); }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  Var weight();  // P L (U + diag(sign_s exp(log_s))), differentiable
  Var p, sign_s, lmask, eye;  // buffers
  Var l, u, log_s;            // parameters [C, C], [C, C], [C]

 private:
  void init_from(const Tensor& w, DType t);
  int64_t c_;
};

class GlowCoupling : public Flow {
 public:
  // num_classes > 0: a class embedding [num_classes, hidden] (`class_embedding`, zero-initialized)
  // added after the first conv (before its ReLU); forward and reverse then need FlowArgs::label.
  GlowCoupling(int64_t c, int64_t hidden, int64_t num_classes = 0);
  std::string type_name() const override { return "GlowCoupling"; }
  std::string extra_repr() const override;
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;

 private:
  // either direction: NN(za), then ag::sigmoid_coupling (y and its log-determinant in one op)
  void couple(Var& z, Var& ldj, bool reverse, const Var* onehot);
  int64_t c_, ca_, hidden_, num_classes_;
  Var class_embedding_;
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, conv3_;  // the peer's net.0, net.2, net.4
};

class GlowStep : public Flow {
 public:
  GlowStep(int64_t c, int64_t hidden, bool lu = true, int64_t num_classes = 0);
  std::string type_name() const override { return "GlowStep"; }
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  std::shared_ptr<ActNorm> actnorm;
  FlowPtr conv;
  std::shared_ptr<GlowCoupling> coupling;
};

// y = W x per pixel for x [N, C, H, W] and W [C, C] (shared by both 1x1 convolutions).
Var conv1x1(const Var& x, const Var& w);

}  // namespace fg::flows
