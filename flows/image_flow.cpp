#include "flowgrad/flows/image_flow.h"

#include <cmath>


namespace fg::flows {

namespace {
constexpr double kLog2e = 1.4426950408889634;
}

ImageFlow::ImageFlow(std::shared_ptr<Dequantization> dequantization, std::vector<FlowPtr> flows, Shape image_shape,
                     int samples)
    : import_samples(samples), dequantization_(std::move(dequantization)), image_shape_(std::move(image_shape)) {
  FG_CHECK(image_shape_.size() == 3, "ImageFlow: image shape must be [C, H, W], got {}", shape_str(image_shape_));
  FG_CHECK(dequantization_, "ImageFlow: needs a dequantization layer");
  flows_.push_back(dequantization_);
  for (auto& f : flows) {
    FG_CHECK(f, "ImageFlow: flow {} is null", flows_.size());
    flows_.push_back(std::move(f));
  }
  for (size_t i = 0; i < flows_.size(); ++i) register_module("flows." + std::to_string(i), flows_[i]);
}

DType ImageFlow::dtype() const {
  for (auto& p : parameters()) return p.dtype();
  return DType::F32;
}

Shape ImageFlow::latent_shape(int64_t n) const {
  Shape s{n};
  s.insert(s.end(), image_shape_.begin(), image_shape_.end());
  for (auto& f : flows_) s = f->output_shape(s);
  return s;
}

int ImageFlow::num_splits() const {
  int n = 0;
  for (auto& f : flows_) n += f->splits();
  return n;
}

ImageFlow::Encoded ImageFlow::encode(const Tensor& imgs, std::vector<Tensor>* latents) {
  Shape want{imgs.dim() > 0 ? imgs.size(0) : 0};
  want.insert(want.end(), image_shape_.begin(), image_shape_.end());
  FG_CHECK(imgs.shape() == want, "ImageFlow: images must be [N, {}], got {}", fmt::join(image_shape_, ", "),
           shape_str(imgs.shape()));
  Device dev = parameters().empty() ? imgs.device() : parameters()[0].device();
  Var z(imgs.to(dev));
  Var ldj(zeros({imgs.size(0)}, dtype(), dev));
  FlowArgs a;
  a.latents = latents;
  for (auto& f : flows_) f->forward(z, ldj, a);
  return {z, ldj};
}

Var ImageFlow::log_prob(const Tensor& imgs) {
  Encoded e = encode(imgs);
  return e.ldj + sum_except_batch(std_normal_log_prob(e.z));
}

Var ImageFlow::bpd(const Tensor& imgs) {
  double d = static_cast<double>(numel(image_shape_));
  return ag::mean(log_prob(imgs)) * (-kLog2e / d);
}

Tensor ImageFlow::importance_bpd(const Tensor& imgs, int samples) {
  ag::NoGradGuard ng;
  int m = samples > 0 ? samples : import_samples;
  FG_CHECK(m >= 1, "importance_bpd: need at least one sample, got {}", m);
  std::vector<Tensor> lls;
  for (int i = 0; i < m; ++i) lls.push_back(unsqueeze(log_prob(imgs).value(), 1));
  Tensor ll = logsumexp(concat(lls, 1), {1}) - std::log(static_cast<double>(m));
  return ll * (-kLog2e / static_cast<double>(numel(image_shape_)));
}

Tensor ImageFlow::decode(const Tensor& z0, const SampleOptions& o, std::vector<Tensor>* latents) {
  ag::NoGradGuard ng;
  FlowArgs a;
  a.sample = &o;
  a.latents = latents;
  a.need_logdet = false;  // decoding returns images only
  Var z(z0), ldj(zeros({z0.size(0)}, z0.dtype(), z0.device()));
  for (auto it = flows_.rbegin(); it != flows_.rend(); ++it) (*it)->reverse(z, ldj, a);
  return z.value();
}

Tensor ImageFlow::sample(int64_t n, const SampleOptions& o, const Tensor* z_init) {
  Shape ls = latent_shape(n);
  Device dev = parameters().empty() ? Device::cpu() : parameters()[0].device();
  Tensor z;
  if (z_init) {
    FG_CHECK(z_init->shape() == ls, "sample: initial latent must be {}, got {}", shape_str(ls),
             shape_str(z_init->shape()));
    z = z_init->to(dtype()).to(dev);
  } else {
    z = normal(ls, 0.0, o.temperature, dtype(), dev, o.generator);
  }
  return decode(z, o);
}

Tensor ImageFlow::interpolate(const Tensor& a, const Tensor& b, int num_steps) {
  ag::NoGradGuard ng;
  FG_CHECK(num_steps >= 2, "interpolate: need at least 2 steps, got {}", num_steps);
  FG_CHECK(a.shape() == b.shape(), "interpolate: image batches {} and {} differ", shape_str(a.shape()),
           shape_str(b.shape()));
  std::vector<Tensor> la, lb;
  Tensor za = encode(a, &la).z.value(), zb = encode(b, &lb).z.value();
  // rows of num_steps: image i's latents blended from a's to b's, for z and every split-off part
  auto blend = [&](const Tensor& x, const Tensor& y) {
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < x.size(0); ++i)
      for (int k = 0; k < num_steps; ++k) {
        double t = static_cast<double>(k) / (num_steps - 1);
        rows.push_back(slice(x, 0, i, i + 1) * (1.0 - t) + slice(y, 0, i, i + 1) * t);
      }
    return concat(rows, 0);
  };
  std::vector<Tensor> latents;
  for (size_t i = 0; i < la.size(); ++i) latents.push_back(blend(la[i], lb[i]));
  return decode(blend(za, zb), {}, &latents);
}

}  // namespace fg::flows
