// ImageFlow: a sequence of flows from integer images to a N(0, I) latent.
//   log p(x) = log N(z) + ldj, where ldj already holds -D log 256 from dequantization;
//   bpd = -log p(x) * log2(e) / D, D = C*H*W.
// Test-time bpd uses importance sampling over M dequantization draws:
//   log p(x) ~= logsumexp_m log p(x, u_m) - log M.
#pragma once
#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/flow.h"
#include "flowgrad/flows/image_model.h"

namespace fg::flows {

class ImageFlow : public ImageModel {
 public:
  // A dequantization (integer images -> continuous logits), then `flows` on the continuous data,
  // for images of image_shape [C, H, W]. Parameters are named flows.0.* (the dequantization) and
  // flows.<i+1>.* (flows[i]). Throws for a shape that is not [C, H, W] or a null layer.
  // num_classes > 0 makes it class-conditional (its layers may then use FlowArgs::label); with
  // class_prior the final latent's base is a ClassPrior (parameters prior.*) instead of N(0, I).
  ImageFlow(std::shared_ptr<Dequantization> dequantization, std::vector<FlowPtr> flows, Shape image_shape,
            int import_samples = 8, int64_t num_classes = 0, bool class_prior = false);
  std::string type_name() const override { return "ImageFlow"; }
  // ImageModel
  const char* family() const override { return "normalizing flow"; }  // coupling or residual
  const char* loss_name() const override { return "bpd"; }
  ag::Var loss(const Tensor& imgs) override { return bpd(imgs); }
  Tensor generate(int64_t n, const SampleOptions& o) override { return sample(n, o); }
  Tensor test_bpd(const Tensor& imgs, int samples) override { return importance_bpd(imgs, samples); }
  int64_t num_classes() const override { return num_classes_; }
  ag::Var cond_loss(const Tensor& imgs, const Tensor* labels) override { return bpd(imgs, labels); }
  Tensor cond_generate(int64_t n, const SampleOptions& o, const Tensor* labels) override {
    return sample(n, o, nullptr, labels);
  }
  Tensor cond_test_bpd(const Tensor& imgs, int samples, const Tensor* labels) override {
    return importance_bpd(imgs, samples, labels);
  }
  Tensor class_log_probs(const Tensor& imgs, int samples) override;

  struct Encoded {
    Var z, ldj;
  };
  // imgs [N, C, H, W] integers -> the final latent z (latent_shape(N)) and ldj [N] (with -D log 256
  // from the dequantization). `latents`, when given, receives the parts multi-scale layers split off
  // (decode takes them back for an exact inverse). Throws naming the expected shape.
  // `labels` ([N] u8/i32) are required by a class-conditional model and refused by another.
  Encoded encode(const Tensor& imgs, std::vector<Tensor>* latents = nullptr, const Tensor* labels = nullptr);
  Var log_prob(const Tensor& imgs, const Tensor* labels = nullptr);  // [N], nats
  Var bpd(const Tensor& imgs, const Tensor* labels = nullptr);       // mean over the batch (the training loss)
  Tensor importance_bpd(const Tensor& imgs, int samples = -1, const Tensor* labels = nullptr);  // [N], no grad
  // Decodes latents z (latent_shape(N)) to integer images [N, C, H, W]: split-off parts are drawn
  // with o's temperature and generator, or taken from `latents` (as encode filled it). No grad.
  Tensor decode(const Tensor& z, const SampleOptions& o = {}, std::vector<Tensor>* latents = nullptr,
                const Tensor* labels = nullptr);
  // n images decoded from N(0, T^2) draws (o's temperature T and generator; the class's Gaussian
  // for a class prior), or from z_init.
  Tensor sample(int64_t n, const SampleOptions& o = {}, const Tensor* z_init = nullptr, const Tensor* labels = nullptr);
  // num_steps images per pair, from a's latent to b's (linear in the final z; split-off parts as
  // encoded, interpolated alike); a class-conditional model takes the pairs' shared labels [N]
  Tensor interpolate(const Tensor& img_a, const Tensor& img_b, int num_steps = 8, const Tensor* labels = nullptr);

  Shape latent_shape(int64_t n) const;
  int num_splits() const;  // the multi-scale layers that split off part of z (0: single scale)
  const Shape& image_shape() const override { return image_shape_; }
  const std::vector<FlowPtr>& flows() const { return flows_; }  // all layers, the dequantization first
  Dequantization& dequantization() const { return *dequantization_; }
  DType dtype() const;
  ClassPrior* prior() const { return prior_.get(); }
  // Sets every ClassPrior (the top's and the splits') from the latents of imgs (ClassPrior::init_from:
  // per-class means, pooled spread): a data-dependent start, as ActNorm's, so the class means need
  // not travel from 0 to where the digits' latents are. No-op without class priors.
  void init_class_priors(const Tensor& imgs, const Tensor& labels) override;
  int import_samples;

 private:
  // labels -> one-hot [N, K] for FlowArgs::label (undefined Var for an unconditional model)
  Var label_rows(const Tensor* labels, int64_t n, Device dev) const;
  int64_t num_classes_ = 0;
  std::shared_ptr<ClassPrior> prior_;
  std::shared_ptr<Dequantization> dequantization_;
  std::vector<FlowPtr> flows_;
  Shape image_shape_;  // [C, H, W]
};

}  // namespace fg::flows
