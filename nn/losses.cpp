#include "flowgrad/nn/losses.h"

namespace fg::nn {

ag::Var mse_loss(const ag::Var& pred, const ag::Var& target) {
  FG_CHECK(pred.shape() == target.shape(), "mse_loss: prediction {} and target {} differ", shape_str(pred.shape()),
           shape_str(target.shape()));
  return ag::mean(ag::square(pred - target));
}

}  // namespace fg::nn
