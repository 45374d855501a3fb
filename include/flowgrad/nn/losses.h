// Losses.
#pragma once
#include "flowgrad/autograd/functional.h"

namespace fg::nn {

// mean((pred - target)^2) over all elements, as torch.nn.functional.mse_loss.
ag::Var mse_loss(const ag::Var& pred, const ag::Var& target);

}  // namespace fg::nn
