// ImageFlow: a sequence of flows from integer images to a N(0, I) latent.
//   log p(x) = log N(z) + ldj, where ldj already holds -D log 256 from dequantization;
//   bpd = -log p(x) * log2(e) / D, D = C*H*W.
// Test-time bpd uses importance sampling over M dequantization draws:
//   log p(x) ~= logsumexp_m log p(x, u_m) - log M.
#pragma once
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/flow.h"
#include "flowgrad/flows/image_model.h"

namespace fg::flows {

class ImageFlow : public ImageModel {
 public:
  // A dequantization (integer images -> continuous logits), then `flows` on the continuous data,
  // for images of image_shape [C, H, W]. Parameters are named flows.0.* (the dequantization) and
  // flows.<i+1>.* (flows[i]). Throws for a shape that is not [C, H, W] or a null layer.
  ImageFlow(std::shared_ptr<Dequantization> dequantization, std::vector<FlowPtr> flows, Shape image_shape,
            int import_samples = 8);
  std::string type_name() const override { return "ImageFlow"; }
  // ImageModel
  const char* family() const override { return "normalizing flow"; }  // coupling or residual
  const char* loss_name() const override { return "bpd"; }
  ag::Var loss(const Tensor& imgs) override { return bpd(imgs); }
  Tensor generate(int64_t n, const SampleOptions& o) override { return sample(n, o); }
  Tensor test_bpd(const Tensor& imgs, int samples) override { return importance_bpd(imgs, samples); }

  struct Encoded {
    Var z, ldj;
  };
  // imgs [N, C, H, W] integers -> the final latent z (latent_shape(N)) and ldj [N] (with -D log 256
  // from the dequantization). `latents`, when given, receives the parts multi-scale layers split off
  // (decode takes them back for an exact inverse). Throws naming the expected shape.
  Encoded encode(const Tensor& imgs, std::vector<Tensor>* latents = nullptr);
  Var log_prob(const Tensor& imgs);                // [N], nats
  Var bpd(const Tensor& imgs);                     // mean over the batch (the training loss)
  Tensor importance_bpd(const Tensor& imgs, int samples = -1);  // [N], no grad
  // Decodes latents z (latent_shape(N)) to integer images [N, C, H, W]: split-off parts are drawn
  // with o's temperature and generator, or taken from `latents` (as encode filled it). No grad.
  Tensor decode(const Tensor& z, const SampleOptions& o = {}, std::vector<Tensor>* latents = nullptr);
  // n images decoded from N(0, T^2) draws (o's temperature T and generator), or from z_init.
  Tensor sample(int64_t n, const SampleOptions& o = {}, const Tensor* z_init = nullptr);
  // num_steps images per pair, from a's latent to b's (linear in the final z; split-off parts as
  // encoded, interpolated alike)
  Tensor interpolate(const Tensor& img_a, const Tensor& img_b, int num_steps = 8);

  Shape latent_shape(int64_t n) const;
  int num_splits() const;  // the multi-scale layers that split off part of z (0: single scale)
  const Shape& image_shape() const override { return image_shape_; }
  const std::vector<FlowPtr>& flows() const { return flows_; }  // all layers, the dequantization first
  Dequantization& dequantization() const { return *dequantization_; }
  DType dtype() const;
  int import_samples;

 private:
  std::shared_ptr<Dequantization> dequantization_;
  std::vector<FlowPtr> flows_;
  Shape image_shape_;  // [C, H, W]
};

}  // namespace fg::flows
