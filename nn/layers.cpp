#include "flowgrad/nn/layers.h"

#include <cmath>

#include "flowgrad/nn/init.h"

namespace fg::nn {

namespace {
void init_bias(Var& b, const Shape& weight_shape) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(weight_shape)));
  uniform_(b, -bound, bound);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool has_bias) : in_features(in), out_features(out) {
  FG_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in={} out={}", in, out);
  weight = register_parameter("weight", zeros({out, in}));
  kaiming_uniform_(weight, std::sqrt(5.0));
  if (has_bias) {
    bias = register_parameter("bias", zeros({out}));
    init_bias(bias, weight.shape());
  }
}

std::string Linear::extra_repr() const {
  return fmt::format("{} -> {}{}", in_features, out_features, bias.defined() ? "" : ", no bias");
}

Var Linear::forward(const Var& x) {
  FG_CHECK(x.dim() >= 1 && x.shape().back() == in_features, "Linear({} -> {}): input {} does not end in {}",
           in_features, out_features, shape_str(x.shape()), in_features);
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  Var x2 = ag::reshape(x, {-1, in_features});
  Var y = ag::matmul(x2, weight, false, true);
  if (bias.defined()) y = y + bias;
  lead.push_back(out_features);
  return ag::reshape(y, lead);
}

Conv2d::Conv2d(const Conv2dConfig& c) : cfg(c) {
  FG_CHECK(c.in > 0 && c.out > 0 && c.kernel > 0 && c.groups > 0 && c.in % c.groups == 0 && c.out % c.groups == 0,
           "Conv2d: bad configuration in={} out={} kernel={} groups={}", c.in, c.out, c.kernel, c.groups);
  weight = register_parameter("weight", zeros({c.out, c.in / c.groups, c.kernel, c.kernel}));
  kaiming_uniform_(weight, std::sqrt(5.0));
  if (c.bias) {
    bias = register_parameter("bias", zeros({c.out}));
    init_bias(bias, weight.shape());
  }
}

ConvOptions Conv2d::options() const {
  ConvOptions o;
  o.stride = cfg.stride;
  o.padding = cfg.padding;
  o.dilation = cfg.dilation;
  o.groups = cfg.groups;
  return o;
}

std::string Conv2d::extra_repr() const {
  return fmt::format("{} -> {}, {}x{}{}{}{}", cfg.in, cfg.out, cfg.kernel, cfg.kernel,
                     cfg.stride != 1 ? fmt::format(", stride {}", cfg.stride) : "",
                     cfg.padding != 0 ? fmt::format(", pad {}", cfg.padding) : "",
                     cfg.groups != 1 ? fmt::format(", groups {}", cfg.groups) : "");
}

Var Conv2d::forward(const Var& x) { return ag::conv2d(x, weight, bias.defined() ? &bias : nullptr, options()); }

ConvTranspose2d::ConvTranspose2d(const Conv2dConfig& c) : cfg(c) {
  FG_CHECK(c.in > 0 && c.out > 0 && c.kernel > 0 && c.groups > 0 && c.in % c.groups == 0 && c.out % c.groups == 0,
           "ConvTranspose2d: bad configuration in={} out={} kernel={} groups={}", c.in, c.out, c.kernel, c.groups);
  weight = register_parameter("weight", zeros({c.in, c.out / c.groups, c.kernel, c.kernel}));
  kaiming_uniform_(weight, std::sqrt(5.0));
  if (c.bias) {
    bias = register_parameter("bias", zeros({c.out}));
    init_bias(bias, weight.shape());
  }
}

std::string ConvTranspose2d::extra_repr() const {
  return fmt::format("{} -> {}, {}x{}, stride {}, pad {}{}", cfg.in, cfg.out, cfg.kernel, cfg.kernel, cfg.stride,
                     cfg.padding, cfg.output_padding ? fmt::format(", output_padding {}", cfg.output_padding) : "");
}

Var ConvTranspose2d::forward(const Var& x) {
  ConvOptions o;
  o.stride = cfg.stride;
  o.padding = cfg.padding;
  o.dilation = cfg.dilation;
  o.groups = cfg.groups;
  o.output_padding = cfg.output_padding;
  return ag::conv_transpose2d(x, weight, bias.defined() ? &bias : nullptr, o);
}

LayerNorm::LayerNorm(int64_t f, int64_t d, double e, bool affine) : features(f), dim(d), eps(e) {
  FG_CHECK(f > 0, "LayerNorm: features must be positive, got {}", f);
  if (affine) {
    weight = register_parameter("weight", ones({f}));
    bias = register_parameter("bias", zeros({f}));
  }
}

std::string LayerNorm::extra_repr() const { return fmt::format("{}, dim {}", features, dim); }

Var LayerNorm::forward(const Var& x) {
  int d = normalize_dim(dim, x.shape().size(), "LayerNorm");
  FG_CHECK(x.shape()[d] == features, "LayerNorm({}): input {} has {} features in dim {}", features,
           shape_str(x.shape()), x.shape()[d], dim);
  return ag::layer_norm(x, dim, weight.defined() ? &weight : nullptr, bias.defined() ? &bias : nullptr, eps);
}

GroupNorm::GroupNorm(int64_t g, int64_t c, double e, bool affine) : groups(g), channels(c), eps(e) {
  FG_CHECK(g > 0 && c > 0 && c % g == 0, "GroupNorm: {} channels do not split into {} groups", c, g);
  if (affine) {
    weight = register_parameter("weight", ones({c}));
    bias = register_parameter("bias", zeros({c}));
  }
}

std::string GroupNorm::extra_repr() const { return fmt::format("{} groups, {} channels", groups, channels); }

Var GroupNorm::forward(const Var& x) {
  FG_CHECK(x.dim() >= 2 && x.size(1) == channels, "GroupNorm({}): input {} must be [N, {}, ...]", channels,
           shape_str(x.shape()), channels);
  const int64_t n = x.size(0);
  Var y = ag::reshape(ag::layer_norm(ag::reshape(x, {n * groups, -1}), 1, nullptr, nullptr, eps), x.shape());
  if (!weight.defined()) return y;
  Shape ps(x.dim(), 1);
  ps[1] = channels;
  return y * ag::reshape(weight, ps) + ag::reshape(bias, ps);
}

Var upsample_nearest2x(const Var& x) {
  FG_CHECK(x.dim() == 4, "upsample_nearest2x: needs [N, C, H, W], got {}", shape_str(x.shape()));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  Var b = ag::broadcast_to(ag::reshape(x, {n, c, h, 1, w, 1}), {n, c, h, 2, w, 2});
  return ag::reshape(b, {n, c, 2 * h, 2 * w});
}

Var avg_pool2x(const Var& x) {
  FG_CHECK(x.dim() == 4 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0,
           "avg_pool2x: needs [N, C, H, W] with even H and W, got {}", shape_str(x.shape()));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return ag::mean(ag::reshape(x, {n, c, h / 2, 2, w / 2, 2}), {3, 5});
}

Sequential::Sequential(std::vector<ModulePtr> layers) {
  for (auto& l : layers) add(l);
}

Sequential& Sequential::add(ModulePtr m) {
  add_child(std::to_string(children().size()), std::move(m));
  return *this;
}

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (auto& [n, c] : children()) h = c->forward(h);
  return h;
}

Var concat_elu(const Var& x) { return ag::concat_elu(x); }

ModulePtr silu() { return std::make_shared<Lambda>("SiLU", [](const Var& x) { return ag::silu(x); }); }
ModulePtr selu() { return std::make_shared<Lambda>("SELU", [](const Var& x) { return ag::selu(x); }); }
ModulePtr gelu() { return std::make_shared<Lambda>("GELU", [](const Var& x) { return ag::gelu(x); }); }
ModulePtr relu() { return std::make_shared<Lambda>("ReLU", [](const Var& x) { return ag::relu(x); }); }
ModulePtr elu(double a) { return std::make_shared<Lambda>("ELU", [a](const Var& x) { return ag::elu(x, a); }); }
ModulePtr concat_elu() { return std::make_shared<Lambda>("ConcatELU", [](const Var& x) { return ag::concat_elu(x); }); }
ModulePtr tanh() { return std::make_shared<Lambda>("Tanh", [](const Var& x) { return ag::tanh(x); }); }
ModulePtr sigmoid() { return std::make_shared<Lambda>("Sigmoid", [](const Var& x) { return ag::sigmoid(x); }); }
ModulePtr flatten(int64_t s) {
  return std::make_shared<Lambda>("Flatten", [s](const Var& x) { return ag::flatten(x, s); });
}
ModulePtr unflatten(Shape per) {
  return std::make_shared<Lambda>("Unflatten", [per](const Var& x) {
    Shape s{x.shape()[0]};
    s.insert(s.end(), per.begin(), per.end());
    return ag::reshape(x, s);
  });
}

}  // namespace fg::nn
