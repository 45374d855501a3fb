// ImageFlow: a sequence of flows from integer images to a N(0, I) latent.
//   log p(x) = log N(z) + ldj, where ldj already holds -D log 256 from dequantization;
//   bpd = -log p(x) * log2(e) / D, D = C*H*W.
// Test-time bpd uses importance sampling over M dequantization draws:
//   log p(x) ~= logsumexp_m log p(x, u_m) - log M.
#pragma once
#include "flowgrad/flows/flow.h"
#include "flowgrad/flows/image_model.h"

namespace fg::flows {

class ImageFlow : public ImageModel {
 public:
  ImageFlow(std::vector<FlowPtr> flows, Shape image_shape, int import_samples = 8);
  std::string type_name() const override { return "ImageFlow"; }
  // ImageModel
  const char* family() const override { return "coupling flow"; }
  const char* loss_name() const override { return "bpd"; }
  ag::Var loss(const Tensor& imgs) override { return bpd(imgs); }
  Tensor generate(int64_t n, const SampleOptions& o) override { return sample(n, o.temperature, nullptr, o.generator); }
  Tensor test_bpd(const Tensor& imgs, int samples) override { return importance_bpd(imgs, samples); }

  struct Encoded {
    Var z, ldj;
  };
  Encoded encode(const Tensor& imgs);             // imgs [N, C, H, W] integers
  Var log_prob(const Tensor& imgs);                // [N]
  Var bpd(const Tensor& imgs);                     // mean over the batch (the training loss)
  Tensor importance_bpd(const Tensor& imgs, int samples = -1);  // [N], no grad
  // Decodes latents (or fresh N(0, temperature^2) draws) to integer images [N, C, H, W].
  Tensor sample(int64_t n, double temperature = 1.0, const Tensor* z_init = nullptr, Generator* g = nullptr);
  Tensor decode(const Tensor& z, double temperature = 1.0, Generator* g = nullptr);
  // num_steps images per pair, from a's latent to b's (linear in z)
  Tensor interpolate(const Tensor& img_a, const Tensor& img_b, int num_steps = 8);

  Shape latent_shape(int64_t n) const;
  const Shape& image_shape() const override { return image_shape_; }
  const std::vector<FlowPtr>& flows() const { return flows_; }
  DType dtype() const;
  int import_samples;

 private:
  std::vector<FlowPtr> flows_;
  Shape image_shape_;  // [C, H, W]
};

}  // namespace fg::flows
