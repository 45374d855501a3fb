// Layers with PyTorch's shapes, parameter names and default initialization
// (weights kaiming-uniform a=sqrt(5), biases uniform +-1/sqrt(fan_in)).
#pragma once
#include <functional>

#include "flowgrad/nn/module.h"

namespace fg::nn {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;  // x [..., in] -> [..., out]
  Var weight, bias;                    // [out, in], [out]
  int64_t in_features, out_features;
};

struct Conv2dConfig {
  int64_t in, out, kernel;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  int64_t output_padding = 0;  // ConvTranspose2d only
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dConfig& c);
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t padding = 0, int64_t stride = 1)
      : Conv2d(Conv2dConfig{in, out, kernel, stride, padding}) {}
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;  // x [N, in, H, W] -> [N, out, OH, OW]
  ConvOptions options() const;        // stride, padding, dilation, groups of cfg
  Conv2dConfig cfg;
  Var weight, bias;  // [out, in/groups, k, k], [out]
};

class ConvTranspose2d : public Module {
 public:
  explicit ConvTranspose2d(const Conv2dConfig& c);
  std::string type_name() const override { return "ConvTranspose2d"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;
  Conv2dConfig cfg;
  Var weight, bias;  // [in, out/groups, k, k], [out]
};

// LayerNorm over one dim (default: last, as torch.nn.LayerNorm(C)); dim=1 on NCHW normalizes
// each pixel over its channels (the tutorial's LayerNormChannels) without permuting.
class LayerNorm : public Module {
 public:
  LayerNorm(int64_t features, int64_t dim = -1, double eps = 1e-5, bool affine = true);
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;
  int64_t features, dim;
  double eps;
  Var weight, bias;
};

// GroupNorm (torch.nn.GroupNorm): x [N, C, ...] normalized over each group of C/groups channels
// and all positions (biased variance), then a per-channel affine. Runs the layer-norm kernel on
// x viewed as [N * groups, C/groups * positions].
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps = 1e-5, bool affine = true);
  std::string type_name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;
  Var forward(const Var& x) override;
  int64_t groups, channels;
  double eps;
  Var weight, bias;
};

// Nearest-neighbour 2x upsampling of [N, C, H, W] (a broadcast view, then one copy; its gradient
// sums each 2x2 block) and 2x2 average pooling (a reduction over a view; no copy).
Var upsample_nearest2x(const Var& x);
Var avg_pool2x(const Var& x);

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<ModulePtr> layers);
  std::string type_name() const override { return "Sequential"; }
  Sequential& add(ModulePtr m);
  Var forward(const Var& x) override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

// Parameter-free activations and reshapes.
class Lambda : public Module {
 public:
  Lambda(std::string name, std::function<Var(const Var&)> f) : name_(std::move(name)), f_(std::move(f)) {}
  std::string type_name() const override { return name_; }
  Var forward(const Var& x) override { return f_(x); }

 private:
  std::string name_;
  std::function<Var(const Var&)> f_;
};

ModulePtr relu();
ModulePtr elu(double alpha = 1.0);
ModulePtr concat_elu();  // [elu(x), elu(-x)] along channels (dim 1): doubles the channels
ModulePtr tanh();
ModulePtr silu();
ModulePtr selu();
ModulePtr gelu();  // the exact erf form, as torch.nn.GELU()
ModulePtr sigmoid();
ModulePtr flatten(int64_t start_dim = 1);
ModulePtr unflatten(Shape per_example);  // [N, prod] -> [N, per_example...]

Var concat_elu(const Var& x);

}  // namespace fg::nn
