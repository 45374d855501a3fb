// Flow matching on images: a U-Net velocity field on the dequantized, rescaled image
//   y = 2 (x + u) / 256 - 1,  x in {0..255}, u ~ U[0, 1)  (so y in [-1, 1)),
// trained by FM or OT-CFM from N(0, I) (flowgrad/flows/continuous/matching.h), sampled by integrating
// dy/dt = v(y, t) from t = 0 to 1 (then x = floor(256 (y + 1) / 2), clamped), and scored by the
// CNF log-likelihood (Hutchinson's divergence, dopri5):
//   log P(x) >= log p_y(y) + D log 2 - D log 256  (the factor 2/256 of y per dimension),
//   bpd = -log P(x) / (D ln 2), importance-sampled over dequantization draws like the
// coupling flows' test bpd.
#pragma once
#include "flowgrad/flows/continuous/matching.h"
#include "flowgrad/flows/image_model.h"

namespace fg::flows {

class ImageFM : public ImageModel {
 public:
  // num_classes > 0: class-conditional (the U-Net's class embedding); training drops each label to
  // the null class with probability cfg_drop (classifier-free guidance)
  ImageFM(Matcher m, int64_t channels = 48, double sigma = 0.0, Shape image_shape = {1, 28, 28},
          int64_t num_classes = 0, double cfg_drop = 0.0);
  std::string type_name() const override { return "ImageFM"; }
  const char* family() const override { return "flow matching"; }
  const char* loss_name() const override { return "fm_loss"; }
  ag::Var loss(const Tensor& imgs) override;
  Tensor generate(int64_t n, const SampleOptions& o) override;
  Tensor test_bpd(const Tensor& imgs, int samples) override;
  const Shape& image_shape() const override { return image_shape_; }
  int64_t num_classes() const override { return k_; }
  ag::Var cond_loss(const Tensor& imgs, const Tensor* labels) override;
  // labels of -1 (i32) draw from the null class; o.guidance != 1 guides the solve
  Tensor cond_generate(int64_t n, const SampleOptions& o, const Tensor* labels) override;
  Tensor cond_test_bpd(const Tensor& imgs, int samples, const Tensor* labels) override;
  // the CNF likelihood under each class's (unguided) field: K solves per draw, expensive
  Tensor class_log_probs(const Tensor& imgs, int samples) override;

  Tensor to_continuous(const Tensor& imgs, Generator* g = nullptr) const;  // dequantized y
  Tensor to_images(const Tensor& y) const;                                  // back to {0..255}
  VelocityField& field() { return *field_; }
  Matcher matcher() const { return matcher_; }
  ode::Options bpd_solver;  // test bpd's solve (dopri5, atol = rtol = 1e-4 by default; the log-density's
                            // error per dimension: flowgrad/flows/continuous/cnf.h)
  int64_t last_bpd_nfe = 0;

 private:
  Matcher matcher_;
  double sigma_;
  Shape image_shape_;
  std::shared_ptr<UNetVelocity> field_;
  int64_t k_ = 0;
  double cfg_drop_ = 0;
  // labels (u8/i32 [N], -1: null) -> one-hot [N, K + 1] on the field's device; refuses none when conditional
  Var label_rows(const Tensor* labels, int64_t n) const;
  Tensor log_likelihood(const Tensor& imgs, int samples, const Tensor* labels);  // [N] nats
};

}  // namespace fg::flows
