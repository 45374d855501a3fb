// Velocity fields v(x, t) for continuous flows: a module called with two inputs.
//   MLPVelocity:  torchcfm's 2-D tutorial net: [x, t] -> Linear(d+1, w) SELU Linear(w, w) SELU
//                 Linear(w, w) SELU Linear(w, d), PyTorch's default initialization (w = 64).
//   UNetVelocity: a small U-Net for 1 x 28 x 28 images: sinusoidal time embedding (torchcfm's
//                 convention: t in [0, 1], max period 10000) through Linear SiLU Linear; residual
//                 blocks [GroupNorm, SiLU, conv3x3, + time projection, GroupNorm, SiLU, conv3x3]
//                 with 1x1 skips; 28 -> 14 -> 7 by stride-2 convs, back up by nearest 2x
//                 upsampling with concatenated skips; GroupNorm SiLU conv3x3 out, zero-initialized.
//                 Widths c, 2c, 2c (c = 48 by default: 1,106,737 parameters).
//   ResMLPVelocity: C2OT's SimpleNet (hkchengrex/C2OT, c2ot/utils/playground_utils.py):
//                 h = Linear(d, w)(x) + Linear(1, w)(t), then `depth` residual blocks
//                 h = h + Linear(4w, w)(GELU(Linear(w, 4w)(h))), then Linear(w, d); no normalization,
//                 PyTorch's default initialization, the module names of its state dict. d = 2,
//                 w = 128, depth 3: 396,034 parameters.
// t is [N] (one time per example) or a scalar broadcast to the batch.
#pragma once
#include "flowgrad/nn/layers.h"

namespace fg::flows {

using ag::Var;

class VelocityField : public nn::Module {
 public:
  virtual Var velocity(const Var& x, const Var& t) = 0;
  Var operator()(const Var& x, const Var& t) { return velocity(x, t); }
  // t as an [N] column for the batch of x (a scalar is broadcast)
  static Var batch_times(const Var& t, int64_t n);
};
using VelocityPtr = std::shared_ptr<VelocityField>;

class MLPVelocity : public VelocityField {
 public:
  explicit MLPVelocity(int64_t dim = 2, int64_t width = 64);
  std::string type_name() const override { return "MLPVelocity"; }
  Var velocity(const Var& x, const Var& t) override;

 private:
  int64_t dim_;
  std::shared_ptr<nn::Sequential> net_;
};

class ResMLPVelocity : public VelocityField {
 public:
  explicit ResMLPVelocity(int64_t dim = 2, int64_t width = 128, int64_t depth = 3);
  std::string type_name() const override { return "ResMLPVelocity"; }
  Var velocity(const Var& x, const Var& t) override;

 private:
  int64_t dim_;
  std::shared_ptr<nn::Linear> input_proj_, time_emb_, output_proj_;
  std::vector<std::pair<std::shared_ptr<nn::Linear>, std::shared_ptr<nn::Linear>>> blocks_;
};

// [N] -> [N, dim]: [sin(t f_k), cos(t f_k)], f_k = 10000^(-k / (dim/2)), k < dim/2.
Var timestep_embedding(const Var& t, int64_t dim);

class ResBlock : public nn::Module {
 public:
  ResBlock(int64_t cin, int64_t cout, int64_t temb, int64_t groups);
  std::string type_name() const override { return "ResBlock"; }
  Var forward2(const Var& x, const Var& temb);

 private:
  std::shared_ptr<nn::GroupNorm> norm1_, norm2_;
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, skip_;
  std::shared_ptr<nn::Linear> time_;
};

class UNetVelocity : public VelocityField {
 public:
  // num_classes > 0: class-conditional, with a class embedding [num_classes + 1, 4 channels]
  // (`class_embedding`, zero-initialized; the last row is the null class of classifier-free
  // guidance) added to the time embedding, as torchcfm's UNetModel does.
  explicit UNetVelocity(int64_t channels = 48, int64_t in_channels = 1, int64_t num_classes = 0);
  std::string type_name() const override { return "UNetVelocity"; }
  Var velocity(const Var& x, const Var& t) override;
  // The classes of the batch the next velocity calls see, one-hot [N, num_classes + 1] (the
  // null class: index num_classes); a class-conditional field refuses to run without them.
  void set_labels(const Var& onehot) { labels_ = onehot; }
  int64_t num_classes() const { return k_; }

 private:
  int64_t c_, temb_dim_, k_ = 0;
  Var class_embedding_, labels_;
  std::shared_ptr<nn::Linear> t1_, t2_;
  std::shared_ptr<nn::Conv2d> in_, down1_, down2_, out_;
  std::shared_ptr<ResBlock> r28_, r14_, r7_, mid_, u14_, u28_;
  std::shared_ptr<nn::GroupNorm> out_norm_;
};

}  // namespace fg::flows
