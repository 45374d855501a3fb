#include "flowgrad/flows/image_flow.h"

#include <cmath>

#include "flowgrad/flows/multiscale.h"


namespace fg::flows {

namespace {
constexpr double kLog2e = 1.4426950408889634;
}

ImageFlow::ImageFlow(std::shared_ptr<Dequantization> dequantization, std::vector<FlowPtr> flows, Shape image_shape,
                     int samples, int64_t num_classes, bool class_prior)
    : import_samples(samples), num_classes_(num_classes), dequantization_(std::move(dequantization)),
      image_shape_(std::move(image_shape)) {
  FG_CHECK(image_shape_.size() == 3, "ImageFlow: image shape must be [C, H, W], got {}", shape_str(image_shape_));
  FG_CHECK(dequantization_, "ImageFlow: needs a dequantization layer");
  flows_.push_back(dequantization_);
  for (auto& f : flows) {
    FG_CHECK(f, "ImageFlow: flow {} is null", flows_.size());
    flows_.push_back(std::move(f));
  }
  for (size_t i = 0; i < flows_.size(); ++i) register_module("flows." + std::to_string(i), flows_[i]);
  FG_CHECK(num_classes_ >= 0 && (num_classes_ > 0 || !class_prior), "ImageFlow: a class prior needs classes");
  if (class_prior) {
    Shape ls = latent_shape(1);
    prior_ = register_module("prior", std::make_shared<ClassPrior>(num_classes_, Shape(ls.begin() + 1, ls.end())));
  }
}

void ImageFlow::init_class_priors(const Tensor& imgs, const Tensor& labels) {
  ag::NoGradGuard ng;
  std::vector<Tensor> latents;
  Encoded e = encode(imgs, &latents, &labels);
  if (prior_) prior_->init_from(e.z.value(), labels);
  size_t i = 0;  // latents come in the order of the SplitFlows
  for (auto& f : flows_) {
    if (f->splits() == 0) continue;
    if (ClassPrior* p = f->split_prior(); p && i < latents.size()) p->init_from(latents[i], labels);
    i += static_cast<size_t>(f->splits());
  }
}

Var ImageFlow::label_rows(const Tensor* labels, int64_t n, Device dev) const {
  if (num_classes_ == 0) {
    FG_CHECK(!labels, "ImageFlow: the model is not class-conditional: it takes no class labels");
    return Var();
  }
  FG_CHECK(labels, "ImageFlow: the model is class-conditional ({} classes); give the class labels", num_classes_);
  FG_CHECK(labels->dim() == 1 && labels->size(0) == n, "ImageFlow: {} labels for {} images",
           labels->dim() == 1 ? labels->size(0) : -1, n);
  return Var(one_hot(*labels, num_classes_, dtype(), dev, "ImageFlow labels"));
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

ImageFlow::Encoded ImageFlow::encode(const Tensor& imgs, std::vector<Tensor>* latents, const Tensor* labels) {
  Shape want{imgs.dim() > 0 ? imgs.size(0) : 0};
  want.insert(want.end(), image_shape_.begin(), image_shape_.end());
  FG_CHECK(imgs.shape() == want, "ImageFlow: images must be [N, {}], got {}", fmt::join(image_shape_, ", "),
           shape_str(imgs.shape()));
  Device dev = parameters().empty() ? imgs.device() : parameters()[0].device();
  Var z(imgs.to(dev));
  Var ldj(zeros({imgs.size(0)}, dtype(), dev));
  Var oh = label_rows(labels, imgs.size(0), dev);
  FlowArgs a;
  a.latents = latents;
  a.label = oh.defined() ? &oh : nullptr;
  for (auto& f : flows_) f->forward(z, ldj, a);
  return {z, ldj};
}

Var ImageFlow::log_prob(const Tensor& imgs, const Tensor* labels) {
  Encoded e = encode(imgs, nullptr, labels);
  if (!prior_) return e.ldj + sum_except_batch(std_normal_log_prob(e.z));
  Var oh = label_rows(labels, imgs.size(0), e.z.device());
  return e.ldj + prior_->log_prob(e.z, oh);
}

Var ImageFlow::bpd(const Tensor& imgs, const Tensor* labels) {
  double d = static_cast<double>(numel(image_shape_));
  return ag::mean(log_prob(imgs, labels)) * (-kLog2e / d);
}

Tensor ImageFlow::importance_bpd(const Tensor& imgs, int samples, const Tensor* labels) {
  ag::NoGradGuard ng;
  int m = samples > 0 ? samples : import_samples;
  FG_CHECK(m >= 1, "importance_bpd: need at least one sample, got {}", m);
  std::vector<Tensor> lls;
  for (int i = 0; i < m; ++i) lls.push_back(unsqueeze(log_prob(imgs, labels).value(), 1));
  Tensor ll = logsumexp(concat(lls, 1), {1}) - std::log(static_cast<double>(m));
  return ll * (-kLog2e / static_cast<double>(numel(image_shape_)));
}

Tensor ImageFlow::class_log_probs(const Tensor& imgs, int samples) {
  ag::NoGradGuard ng;
  FG_CHECK(num_classes_ > 0, "class_log_probs: the model is not class-conditional");
  int m = samples > 0 ? samples : import_samples;
  FG_CHECK(m >= 1, "class_log_probs: need at least one sample, got {}", m);
  const int64_t n = imgs.size(0);
  std::vector<Tensor> draws;  // [N, K, 1] per dequantization draw
  for (int i = 0; i < m; ++i) {
    // one dequantization draw (it takes no label), then the rest of the flow once per class
    Var z0(imgs.to(parameters()[0].device()));
    Var ldj0(zeros({n}, dtype(), z0.device()));
    Shape want{n};
    want.insert(want.end(), image_shape_.begin(), image_shape_.end());
    FG_CHECK(imgs.shape() == want, "ImageFlow: images must be {}, got {}", shape_str(want), shape_str(imgs.shape()));
    flows_[0]->forward(z0, ldj0, {});
    std::vector<Tensor> per_class;
    for (int64_t k = 0; k < num_classes_; ++k) {
      Tensor y = full_labels(n, k);
      Var oh = label_rows(&y, n, z0.device());
      FlowArgs a;
      a.label = &oh;
      Var z = z0, ldj = ldj0;
      for (size_t j = 1; j < flows_.size(); ++j) flows_[j]->forward(z, ldj, a);
      Var lp = ldj + (prior_ ? prior_->log_prob(z, oh) : sum_except_batch(std_normal_log_prob(z)));
      per_class.push_back(lp.value().reshape({n, 1, 1}));
    }
    draws.push_back(concat(per_class, 1));
  }
  return logsumexp(concat(draws, 2), {2}) - std::log(static_cast<double>(m));
}

Tensor ImageFlow::decode(const Tensor& z0, const SampleOptions& o, std::vector<Tensor>* latents,
                         const Tensor* labels) {
  ag::NoGradGuard ng;
  Var oh = label_rows(labels, z0.size(0), z0.device());
  FlowArgs a;
  a.sample = &o;
  a.latents = latents;
  a.label = oh.defined() ? &oh : nullptr;
  a.need_logdet = false;  // decoding returns images only
  Var z(z0), ldj(zeros({z0.size(0)}, z0.dtype(), z0.device()));
  for (auto it = flows_.rbegin(); it != flows_.rend(); ++it) (*it)->reverse(z, ldj, a);
  return z.value();
}

Tensor ImageFlow::sample(int64_t n, const SampleOptions& o, const Tensor* z_init, const Tensor* labels) {
  Shape ls = latent_shape(n);
  Device dev = parameters().empty() ? Device::cpu() : parameters()[0].device();
  Tensor z;
  if (z_init) {
    FG_CHECK(z_init->shape() == ls, "sample: initial latent must be {}, got {}", shape_str(ls),
             shape_str(z_init->shape()));
    z = z_init->to(dtype()).to(dev);
  } else if (prior_) {
    z = prior_->sample(label_rows(labels, n, dev).value(), o.temperature, o.generator);
  } else {
    z = normal(ls, 0.0, o.temperature, dtype(), dev, o.generator);
  }
  return decode(z, o, nullptr, labels);
}

Tensor ImageFlow::interpolate(const Tensor& a, const Tensor& b, int num_steps, const Tensor* labels) {
  ag::NoGradGuard ng;
  FG_CHECK(num_steps >= 2, "interpolate: need at least 2 steps, got {}", num_steps);
  FG_CHECK(a.shape() == b.shape(), "interpolate: image batches {} and {} differ", shape_str(a.shape()),
           shape_str(b.shape()));
  std::vector<Tensor> la, lb;
  Tensor za = encode(a, &la, labels).z.value(), zb = encode(b, &lb, labels).z.value();
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
  if (!labels) return decode(blend(za, zb), {}, &latents);
  Tensor l = labels->to(DType::I32).to(Device::cpu()).contiguous();  // each label num_steps times
  std::vector<int32_t> rep;
  for (int32_t v : l.to_vector<int32_t>())
    for (int k = 0; k < num_steps; ++k) rep.push_back(v);
  Tensor y = from_vector(rep, {static_cast<int64_t>(rep.size())});
  return decode(blend(za, zb), {}, &latents, &y);
}

}  // namespace fg::flows
