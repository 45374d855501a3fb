// What train_mnist and the flowgrad tools need of an image model, whichever family it is: the
// coupling flows (ImageFlow: exact likelihood by the change of variables) or the flow-matching
// models (ImageFM: a velocity field, sampled and scored through an ODE). Images are integer
// [N, C, H, W] in {0, ..., 255}; bits per dimension use the same accounting for both families
// (dequantization, every affine rescaling, -log 256 per dimension).
#pragma once
#include "flowgrad/flows/flow.h"

namespace fg::flows {

class ImageModel : public nn::Module {
 public:
  virtual const char* family() const = 0;      // "normalizing flow" or "flow matching"
  virtual const char* loss_name() const = 0;   // the training objective: "bpd" or "fm_loss"
  virtual ag::Var loss(const Tensor& imgs) = 0;  // the mean training objective on a batch
  virtual Tensor generate(int64_t n, const SampleOptions& o) = 0;  // integer images
  // Test bits per dimension [N], importance-sampled over `samples` dequantization draws. No grad.
  virtual Tensor test_bpd(const Tensor& imgs, int samples) = 0;
  virtual const Shape& image_shape() const = 0;  // [C, H, W]

  // Class conditioning (labels: CPU u8 or i32 [N]). num_classes() > 0 marks a class-conditional
  // model, whose cond_* calls need labels; an unconditional model refuses labels. The defaults are
  // an unconditional model's.
  virtual int64_t num_classes() const { return 0; }
  virtual ag::Var cond_loss(const Tensor& imgs, const Tensor* labels) { refuse(labels); return loss(imgs); }
  virtual Tensor cond_generate(int64_t n, const SampleOptions& o, const Tensor* labels) {
    refuse(labels);
    return generate(n, o);
  }
  virtual Tensor cond_test_bpd(const Tensor& imgs, int samples, const Tensor* labels) {
    refuse(labels);
    return test_bpd(imgs, samples);
  }
  // log p(x | y) in nats [N, num_classes()] for every class (the generative classifier's scores),
  // importance-sampled over `samples` dequantization draws shared by the classes. No grad.
  virtual Tensor class_log_probs(const Tensor& imgs, int samples) {
    (void)imgs, (void)samples;
    fail("class_log_probs: the model is not class-conditional");
  }
  // Data-dependent start of the class-conditional base distributions from labelled images (before
  // training; ImageFlow's per-class latent means, ClassPrior::init_from). No-op without class priors.
  virtual void init_class_priors(const Tensor& imgs, const Tensor& labels) { (void)imgs, (void)labels; }

 protected:
  void refuse(const Tensor* labels) const {
    FG_CHECK(!labels, "the model is not class-conditional: it takes no class labels");
  }
};

}  // namespace fg::flows
