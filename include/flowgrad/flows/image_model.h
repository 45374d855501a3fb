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
};

}  // namespace fg::flows
