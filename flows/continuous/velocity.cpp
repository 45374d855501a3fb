#include "flowgrad/flows/continuous/velocity.h"

#include <cmath>

#include "flowgrad/nn/init.h"

namespace fg::flows {

Var VelocityField::batch_times(const Var& t, int64_t n) {
  if (t.numel() == 1) return ag::broadcast_to(ag::reshape(t, {1}), {n});
  FG_CHECK(t.dim() == 1 && t.size(0) == n, "velocity: t must be a scalar or [{}], got {}", n, shape_str(t.shape()));
  return t;
}

MLPVelocity::MLPVelocity(int64_t dim, int64_t width) : dim_(dim) {
  FG_CHECK(dim >= 1 && width >= 1, "MLPVelocity: dim {} and width {} must be positive", dim, width);
  net_ = register_module("net", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
                                    std::make_shared<nn::Linear>(dim + 1, width), nn::selu(),
                                    std::make_shared<nn::Linear>(width, width), nn::selu(),
                                    std::make_shared<nn::Linear>(width, width), nn::selu(),
                                    std::make_shared<nn::Linear>(width, dim)}));
}

Var MLPVelocity::velocity(const Var& x, const Var& t) {
  FG_CHECK(x.dim() == 2 && x.size(1) == dim_, "MLPVelocity: x must be [N, {}], got {}", dim_, shape_str(x.shape()));
  Var tt = ag::reshape(batch_times(t, x.size(0)), {x.size(0), 1});
  return (*net_)(ag::concat({x, tt}, 1));
}

ResMLPVelocity::ResMLPVelocity(int64_t dim, int64_t width, int64_t depth) : dim_(dim) {
  FG_CHECK(dim >= 1 && width >= 1 && depth >= 0, "ResMLPVelocity: dim {}, width {} and depth {} must be positive",
           dim, width, depth);
  // registration order = PyTorch's: input_proj, time_emb, blocks.k.linear1/linear2, output_proj
  input_proj_ = register_module("input_proj", std::make_shared<nn::Linear>(dim, width));
  time_emb_ = register_module("time_emb", std::make_shared<nn::Linear>(1, width));
  for (int64_t k = 0; k < depth; ++k) {
    auto l1 = register_module(fmt::format("blocks.{}.linear1", k), std::make_shared<nn::Linear>(width, 4 * width));
    auto l2 = register_module(fmt::format("blocks.{}.linear2", k), std::make_shared<nn::Linear>(4 * width, width));
    blocks_.emplace_back(l1, l2);
  }
  output_proj_ = register_module("output_proj", std::make_shared<nn::Linear>(width, dim));
}

Var ResMLPVelocity::velocity(const Var& x, const Var& t) {
  FG_CHECK(x.dim() == 2 && x.size(1) == dim_, "ResMLPVelocity: x must be [N, {}], got {}", dim_, shape_str(x.shape()));
  Var tt = ag::reshape(batch_times(t, x.size(0)), {x.size(0), 1});
  Var h = (*input_proj_)(x) + (*time_emb_)(tt);
  for (auto& [l1, l2] : blocks_) h = h + (*l2)(ag::gelu((*l1)(h)));
  return (*output_proj_)(h);
}

Var timestep_embedding(const Var& t, int64_t dim) {
  FG_CHECK(dim >= 2 && dim % 2 == 0 && t.dim() == 1, "timestep_embedding: needs t [N] and an even dim, got {} and {}",
           shape_str(t.shape()), dim);
  const int64_t half = dim / 2;
  std::vector<double> f(half);
  for (int64_t k = 0; k < half; ++k) f[k] = std::exp(-std::log(10000.0) * static_cast<double>(k) / half);
  Var freqs(from_vector(f, {1, half}).to(t.dtype()).to(t.device()));
  Var args = ag::reshape(t, {t.size(0), 1}) * freqs;
  return ag::concat({ag::sin(args), ag::cos(args)}, 1);
}

ResBlock::ResBlock(int64_t cin, int64_t cout, int64_t temb, int64_t groups) {
  norm1_ = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, cin));
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(cin, cout, 3, 1));
  time_ = register_module("time", std::make_shared<nn::Linear>(temb, cout));
  norm2_ = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, cout));
  conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(cout, cout, 3, 1));
  if (cin != cout) skip_ = register_module("skip", std::make_shared<nn::Conv2d>(cin, cout, 1));
}

Var ResBlock::forward2(const Var& x, const Var& temb) {
  Var h = (*conv1_)(ag::silu((*norm1_)(x)));
  Var tproj = (*time_)(temb);
  h = h + ag::reshape(tproj, {tproj.size(0), tproj.size(1), 1, 1});
  h = (*conv2_)(ag::silu((*norm2_)(h)));
  return h + (skip_ ? (*skip_)(x) : x);
}

UNetVelocity::UNetVelocity(int64_t c, int64_t in_channels, int64_t num_classes)
    : c_(c), temb_dim_(4 * c), k_(num_classes) {
  FG_CHECK(c >= 8 && c % 8 == 0, "UNetVelocity: channels must be a positive multiple of 8, got {}", c);
  const int64_t g = 8, c2 = 2 * c, te = temb_dim_;
  t1_ = register_module("time_in", std::make_shared<nn::Linear>(c, te));
  t2_ = register_module("time_out", std::make_shared<nn::Linear>(te, te));
  in_ = register_module("conv_in", std::make_shared<nn::Conv2d>(in_channels, c, 3, 1));
  r28_ = register_module("down28", std::make_shared<ResBlock>(c, c, te, g));
  down1_ = register_module("downsample1", std::make_shared<nn::Conv2d>(nn::Conv2dConfig{c, c, 3, 2, 1}));
  r14_ = register_module("down14", std::make_shared<ResBlock>(c, c2, te, g));
  down2_ = register_module("downsample2", std::make_shared<nn::Conv2d>(nn::Conv2dConfig{c2, c2, 3, 2, 1}));
  r7_ = register_module("down7", std::make_shared<ResBlock>(c2, c2, te, g));
  mid_ = register_module("mid", std::make_shared<ResBlock>(c2, c2, te, g));
  u14_ = register_module("up14", std::make_shared<ResBlock>(c2 + c2, c2, te, g));
  u28_ = register_module("up28", std::make_shared<ResBlock>(c2 + c, c, te, g));
  out_norm_ = register_module("out_norm", std::make_shared<nn::GroupNorm>(g, c));
  out_ = register_module("conv_out", std::make_shared<nn::Conv2d>(c, in_channels, 3, 1));
  nn::zeros_(out_->weight);
  nn::zeros_(out_->bias);
  if (k_ > 0) class_embedding_ = register_parameter("class_embedding", zeros({k_ + 1, te}));
}

Var UNetVelocity::velocity(const Var& x, const Var& t) {
  FG_CHECK(x.dim() == 4 && x.size(2) % 4 == 0 && x.size(3) % 4 == 0,
           "UNetVelocity: x must be [N, C, H, W] with H and W divisible by 4, got {}", shape_str(x.shape()));
  Var temb = timestep_embedding(batch_times(t, x.size(0)), c_);
  temb = (*t2_)(ag::silu((*t1_)(temb)));
  if (k_ > 0) {
    FG_CHECK(labels_.defined() && labels_.dim() == 2 && labels_.size(0) == x.size(0) && labels_.size(1) == k_ + 1,
             "UNetVelocity: a class-conditional field needs one-hot labels [{}, {}] (set_labels)", x.size(0), k_ + 1);
    temb = temb + ag::matmul(labels_, class_embedding_);
  }
  Var h28 = r28_->forward2((*in_)(x), temb);             // [N, c, 28, 28]
  Var h14 = r14_->forward2((*down1_)(h28), temb);       // [N, 2c, 14, 14]
  Var h7 = r7_->forward2((*down2_)(h14), temb);         // [N, 2c, 7, 7]
  h7 = mid_->forward2(h7, temb);
  Var u = u14_->forward2(ag::concat({nn::upsample_nearest2x(h7), h14}, 1), temb);
  u = u28_->forward2(ag::concat({nn::upsample_nearest2x(u), h28}, 1), temb);
  return (*out_)(ag::silu((*out_norm_)(u)));
}

}  // namespace fg::flows
