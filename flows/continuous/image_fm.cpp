#include "flowgrad/flows/continuous/image_fm.h"

#include <cmath>

#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/continuous/cnf.h"

namespace fg::flows {

ImageFM::ImageFM(Matcher m, int64_t channels, double sigma, Shape image_shape, int64_t num_classes, double cfg_drop)
    : matcher_(m), sigma_(sigma), image_shape_(std::move(image_shape)), k_(num_classes), cfg_drop_(cfg_drop) {
  FG_CHECK(image_shape_.size() == 3, "ImageFM: image shape must be [C, H, W], got {}", shape_str(image_shape_));
  FG_CHECK(cfg_drop >= 0 && cfg_drop < 1, "ImageFM: the label drop probability must be in [0, 1), got {}", cfg_drop);
  field_ = register_module("field", std::make_shared<UNetVelocity>(channels, image_shape_[0], num_classes));
  bpd_solver.method = ode::Method::Dopri5;
  bpd_solver.atol = bpd_solver.rtol = 1e-4;  // per dimension: docs/results/cnf-cost.md
}

Tensor ImageFM::to_continuous(const Tensor& imgs, Generator* g) const {
  Device dev = parameters()[0].device();
  Tensor x = imgs.to(dev).to(DType::F32);
  return (x + rand(x.shape(), x.dtype(), dev, g)) * (2.0 / 256.0) - 1.0;
}

Tensor ImageFM::to_images(const Tensor& y) const {
  return clamp(floor((y + 1.0) * 128.0), 0.0, 255.0).to(DType::I32);
}

Var ImageFM::label_rows(const Tensor* labels, int64_t n) const {
  FG_CHECK(k_ == 0 || labels, "ImageFM: the model is class-conditional ({} classes); give the class labels", k_);
  FG_CHECK(k_ > 0 || !labels, "ImageFM: the model is not class-conditional: it takes no class labels");
  if (!labels) return Var();
  FG_CHECK(labels->dim() == 1 && labels->size(0) == n, "ImageFM: {} labels for {} images",
           labels->dim() == 1 ? labels->size(0) : -1, n);
  Tensor l = labels->to(Device::cpu()).to(DType::I32).contiguous();
  std::vector<int32_t> v = l.to_vector<int32_t>();
  for (auto& y : v)
    if (y < 0) y = static_cast<int32_t>(k_);  // the null class
  return Var(one_hot(from_vector(v, {n}), k_ + 1, DType::F32, parameters()[0].device(), "ImageFM labels"));
}

ag::Var ImageFM::cond_loss(const Tensor& imgs, const Tensor* labels) {
  if (k_ == 0) {
    refuse(labels);
    return loss(imgs);
  }
  FG_CHECK(labels, "ImageFM: the model is class-conditional; give the class labels");
  // classifier-free guidance's training: each label dropped to the null class with probability p
  Tensor y = labels->to(Device::cpu()).to(DType::I32).contiguous();
  if (cfg_drop_ > 0) {
    std::vector<int32_t> v = y.to_vector<int32_t>();
    std::vector<float> u = rand({y.size(0)}).to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i)
      if (u[i] < cfg_drop_) v[i] = -1;
    y = from_vector(v, {y.size(0)});
  }
  field_->set_labels(label_rows(&y, imgs.size(0)));
  Tensor x1 = to_continuous(imgs);
  Tensor x0 = randn(x1.shape(), x1.dtype(), x1.device());
  if (matcher_ != Matcher::OTCFM) return matching_loss(*field_, sample_path(matcher_, x0, x1, sigma_, nullptr));
  // OT-CFM: pair the noise with the data (not the data with the noise), so each x1 keeps its label;
  // then the straight path of I-CFM between the pairs
  std::vector<int> perm = ot_pairing(x0, x1);  // x0[i] goes with x1[perm[i]]
  std::vector<int32_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int32_t>(i);
  x0 = gather_rows(x0, from_vector(inv, {static_cast<int64_t>(inv.size())}).to(x0.device()));
  return matching_loss(*field_, sample_path(Matcher::ICFM, x0, x1, sigma_, nullptr));
}

ag::Var ImageFM::loss(const Tensor& imgs) {
  FG_CHECK(k_ == 0, "ImageFM: the model is class-conditional; give the class labels");
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

namespace {
// classifier-free guidance: v_null + w (v_y - v_null), both from the one conditional field
class GuidedVelocity : public VelocityField {
 public:
  GuidedVelocity(UNetVelocity& f, Var y, Var null, double w) : f_(f), y_(std::move(y)), null_(std::move(null)), w_(w) {}
  Var velocity(const Var& x, const Var& t) override {
    f_.set_labels(y_);
    Var vy = f_.velocity(x, t);
    f_.set_labels(null_);
    Var vn = f_.velocity(x, t);
    return vn + (vy - vn) * w_;
  }

 private:
  UNetVelocity& f_;
  Var y_, null_;
  double w_;
};
}  // namespace

Tensor ImageFM::cond_generate(int64_t n, const SampleOptions& o, const Tensor* labels) {
  if (k_ == 0) {
    refuse(labels);
    return generate(n, o);
  }
  ag::NoGradGuard ng;
  Shape s{n};
  s.insert(s.end(), image_shape_.begin(), image_shape_.end());
  Device dev = parameters()[0].device();
  Tensor x0 = normal(s, 0.0, o.temperature, DType::F32, dev, o.generator);
  Var y = label_rows(labels, n);
  ode::Result r;
  if (o.guidance == 1.0) {
    field_->set_labels(y);
    r = cnf_sample(*field_, x0, o.solver);
  } else {
    Tensor nulls = full(Shape{n}, -1.0, DType::I32);
    GuidedVelocity g(*field_, y, label_rows(&nulls, n), o.guidance);
    r = cnf_sample(g, x0, o.solver);
  }
  if (o.nfe) *o.nfe = r.nfe;
  return to_images(r.y[0]);
}

Tensor ImageFM::cond_test_bpd(const Tensor& imgs, int samples, const Tensor* labels) {
  if (k_ == 0) {
    refuse(labels);
    return test_bpd(imgs, samples);
  }
  const double d = static_cast<double>(numel(image_shape_));
  return log_likelihood(imgs, samples, labels) * (-1.0 / (d * std::log(2.0)));
}

Tensor ImageFM::class_log_probs(const Tensor& imgs, int samples) {
  FG_CHECK(k_ > 0, "class_log_probs: the model is not class-conditional");
  ag::NoGradGuard ng;
  const int64_t n = imgs.size(0);
  std::vector<Tensor> cols;
  for (int64_t c = 0; c < k_; ++c) {
    Tensor y = full_labels(n, c);
    cols.push_back(unsqueeze(log_likelihood(imgs, samples, &y), 1));
  }
  return concat(cols, 1);
}

Tensor ImageFM::log_likelihood(const Tensor& imgs, int samples, const Tensor* labels) {
  ag::NoGradGuard ng;
  FG_CHECK(samples >= 1, "test_bpd: need at least one sample, got {}", samples);
  field_->set_labels(label_rows(labels, imgs.size(0)));
  const double d = static_cast<double>(numel(image_shape_));
  std::vector<Tensor> lls;
  last_bpd_nfe = 0;
  for (int i = 0; i < samples; ++i) {
    CnfOptions o;
    o.solver = bpd_solver;
    o.exact = false;
    CnfResult r = cnf_log_prob(*field_, to_continuous(imgs), o);
    last_bpd_nfe += r.nfe;
    lls.push_back(unsqueeze(r.log_prob + d * std::log(2.0 / 256.0), 1));
  }
  return logsumexp(concat(lls, 1), {1}) - std::log(static_cast<double>(samples));
}

Tensor ImageFM::test_bpd(const Tensor& imgs, int samples) {
  FG_CHECK(k_ == 0, "ImageFM: the model is class-conditional; give the class labels");
  // log P(x) = log p_y(y) + D log(2 / 256), averaged over the dequantization samples
  const double d = static_cast<double>(numel(image_shape_));
  return log_likelihood(imgs, samples, nullptr) * (-1.0 / (d * std::log(2.0)));
}

}  // namespace fg::flows
