#include "flowgrad/flows/continuous/image_fm.h"

#include <cmath>

#include "flowgrad/flows/continuous/cnf.h"

namespace fg::flows {

ImageFM::ImageFM(Matcher m, int64_t channels, double sigma, Shape image_shape)
    : matcher_(m), sigma_(sigma), image_shape_(std::move(image_shape)) {
  FG_CHECK(image_shape_.size() == 3, "ImageFM: image shape must be [C, H, W], got {}", shape_str(image_shape_));
  field_ = register_module("field", std::make_shared<UNetVelocity>(channels, image_shape_[0]));
  bpd_solver.method = ode::Method::Dopri5;
  bpd_solver.atol = bpd_solver.rtol = 1e-5;
}

Tensor ImageFM::to_continuous(const Tensor& imgs, Generator* g) const {
  Device dev = parameters()[0].device();
  Tensor x = imgs.to(dev).to(DType::F32);
  return (x + rand(x.shape(), x.dtype(), dev, g)) * (2.0 / 256.0) - 1.0;
}

Tensor ImageFM::to_images(const Tensor& y) const {
  return clamp(floor((y + 1.0) * 128.0), 0.0, 255.0).to(DType::I32);
}

ag::Var ImageFM::loss(const Tensor& imgs) {
  Tensor x1 = to_continuous(imgs);
  // FM's x0 is noise; I-CFM and OT-CFM pair the batch with a fresh N(0, I) batch
  Tensor x0 = randn(x1.shape(), x1.dtype(), x1.device());
  return matching_loss(*field_, sample_path(matcher_, x0, x1, sigma_, nullptr));
}

Tensor ImageFM::generate(int64_t n, const SampleOptions& o) {
  Shape s{n};
  s.insert(s.end(), image_shape_.begin(), image_shape_.end());
  Device dev = parameters()[0].device();
  Tensor x0 = normal(s, 0.0, o.temperature, DType::F32, dev, o.generator);
  ode::Result r = cnf_sample(*field_, x0, o.solver);
  if (o.nfe) *o.nfe = r.nfe;
  return to_images(r.y[0]);
}

Tensor ImageFM::test_bpd(const Tensor& imgs, int samples) {
  ag::NoGradGuard ng;
  FG_CHECK(samples >= 1, "test_bpd: need at least one sample, got {}", samples);
  const double d = static_cast<double>(numel(image_shape_));
  std::vector<Tensor> lls;
  last_bpd_nfe = 0;
  for (int i = 0; i < samples; ++i) {
    CnfOptions o;
    o.solver = bpd_solver;
    o.exact = false;
    CnfResult r = cnf_log_prob(*field_, to_continuous(imgs), o);
    last_bpd_nfe += r.nfe;
    // log P(x) = log p_y(y) + D log(2 / 256)
    lls.push_back(unsqueeze(r.log_prob + d * std::log(2.0 / 256.0), 1));
  }
  Tensor ll = logsumexp(concat(lls, 1), {1}) - std::log(static_cast<double>(samples));
  return ll * (-1.0 / (d * std::log(2.0)));
}

}  // namespace fg::flows
