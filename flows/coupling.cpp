#include "flowgrad/flows/coupling.h"

#include "flowgrad/flows/gated_conv.h"

namespace fg::flows {

Tensor checkerboard_mask(int64_t h, int64_t w, bool invert) {
  std::vector<float> m(h * w);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) m[i * w + j] = static_cast<float>(((i + j) % 2 == 1) != invert);
  return from_vector(m, {1, 1, h, w});
}

Tensor channel_mask(int64_t c, bool invert) {
  std::vector<float> m(c);
  for (int64_t i = 0; i < c; ++i) m[i] = static_cast<float>((i < c / 2) != invert);
  return from_vector(m, {1, c, 1, 1});
}

CouplingLayer::CouplingLayer(nn::ModulePtr network, Tensor mask, int64_t c_in, bool additive)
    : network_(std::move(network)), additive_(additive) {
  register_module("network", network_);
  if (!additive) scaling_factor_ = register_parameter("scaling_factor", zeros({c_in}));
  mask_ = register_buffer("mask", std::move(mask));
}

CouplingLayer::CouplingLayer(std::shared_ptr<GatedConvNet> network, Tensor mask, int64_t c_in, bool additive)
    : CouplingLayer(nn::ModulePtr(network), std::move(mask), c_in, additive) {
  if (network->num_classes() > 0) class_net_ = network.get();  // takes the labels, refuses to run without them
}

void CouplingLayer::scale_shift(const Var& z, const FlowArgs& a, Var& s, Var& t) {
  const Var& m = mask_;
  Var z_in = z * m;
  Var in = a.cond ? ag::concat({z_in, *a.cond}, 1) : z_in;
  Var out = class_net_ ? class_net_->forward(in, a.label) : (*network_)(in);
  Var inv = 1.0 - m;
  if (additive_) {
    FG_CHECK(out.shape() == z.shape(), "AdditiveCoupling: network output {} must match z {}", shape_str(out.shape()),
             shape_str(z.shape()));
    t = out * inv;
    return;
  }
  FG_CHECK(out.dim() == 4 && out.size(1) == 2 * z.size(1), "CouplingLayer: network output {} must have 2x the {} channels of z",
           shape_str(out.shape()), z.size(1));
  auto st = ag::chunk(out, 2, 1);
  Var f = ag::reshape(ag::exp(scaling_factor_), {1, -1, 1, 1});
  s = ag::tanh(st[0] / f) * f * inv;
  t = st[1] * inv;
}

void CouplingLayer::forward(Var& z, Var& ldj, const FlowArgs& a) {
  Var s, t;
  scale_shift(z, a, s, t);
  if (additive_) {
    z = z + t;
    return;
  }
  z = (z + t) * ag::exp(s);
  ldj = ldj + sum_except_batch(s);
}

void CouplingLayer::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  Var s, t;
  scale_shift(z, a, s, t);
  if (additive_) {
    z = z - t;
    return;
  }
  z = z * ag::exp(-s) - t;
  ldj = ldj - sum_except_batch(s);
}

}  // namespace fg::flows
