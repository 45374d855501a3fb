#include "flowgrad/flows/multiscale.h"

namespace fg::flows {

void SqueezeFlow::forward(Var& z, Var&, const FlowArgs&) {
  auto s = z.shape();
  FG_CHECK(s.size() == 4 && s[2] % 2 == 0 && s[3] % 2 == 0, "SqueezeFlow: needs [N, C, H, W] with even H, W; got {}",
           shape_str(s));
  Var r = ag::reshape(z, {s[0], s[1], s[2] / 2, 2, s[3] / 2, 2});
  r = ag::permute(r, {0, 1, 3, 5, 2, 4});
  z = ag::reshape(r, {s[0], 4 * s[1], s[2] / 2, s[3] / 2});
}

void SqueezeFlow::reverse(Var& z, Var&, const FlowArgs&) {
  auto s = z.shape();
  FG_CHECK(s.size() == 4 && s[1] % 4 == 0, "SqueezeFlow reverse: needs [N, 4C, H, W]; got {}", shape_str(s));
  Var r = ag::reshape(z, {s[0], s[1] / 4, 2, 2, s[2], s[3]});
  r = ag::permute(r, {0, 1, 4, 2, 5, 3});
  z = ag::reshape(r, {s[0], s[1] / 4, 2 * s[2], 2 * s[3]});
}

Shape SqueezeFlow::output_shape(const Shape& in) const { return {in[0], in[1] * 4, in[2] / 2, in[3] / 2}; }

SplitFlow::SplitFlow(std::shared_ptr<ClassPrior> prior) : prior_(std::move(prior)) {
  if (prior_) register_module("prior", prior_);
}

void SplitFlow::forward(Var& z, Var& ldj, const FlowArgs& a) {
  FG_CHECK(z.dim() == 4 && z.size(1) % 2 == 0, "SplitFlow: needs an even channel count; got {}", shape_str(z.shape()));
  auto parts = ag::chunk(z, 2, 1);
  if (a.latents) a.latents->push_back(parts[1].value());
  ldj = ldj + base_log_prob(prior_.get(), parts[1], a.label, "SplitFlow");
  z = parts[0];
}

void SplitFlow::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  Tensor zs;
  if (a.latents) {
    FG_CHECK(!a.latents->empty(), "SplitFlow reverse: no split-off latent left to take back (the latents hold one "
                                  "per SplitFlow, from forward)");
    zs = a.latents->back();
    a.latents->pop_back();
    FG_CHECK(zs.shape() == z.shape(), "SplitFlow reverse: the split-off latent {} does not match z {}",
             shape_str(zs.shape()), shape_str(z.shape()));
  } else {
    const SampleOptions none;
    const SampleOptions& so = a.sample ? *a.sample : none;
    if (prior_) {
      FG_CHECK(a.label, "SplitFlow: the model is class-conditional; give the labels to sample");
      zs = prior_->sample(a.label->value(), so.temperature, so.generator);
    } else {
      zs = normal(z.shape(), 0.0, so.temperature, z.dtype(), z.device(), so.generator);
    }
  }
  Var split(zs);
  if (a.need_logdet) ldj = ldj - base_log_prob(prior_.get(), split, a.label, "SplitFlow");
  z = ag::concat({z, split}, 1);
}

Shape SplitFlow::output_shape(const Shape& in) const { return {in[0], in[1] / 2, in[2], in[3]}; }

}  // namespace fg::flows
