// Initializers with PyTorch's defaults, drawing from a Generator (the default one unless given).
#pragma once
#include "flowgrad/autograd/var.h"

namespace fg::nn {

// PyTorch's fan_in for a weight: size(1) * receptive field (Linear [out, in]; conv [O, I/g, kh, kw];
// conv-transpose [in, out/g, kh, kw] counts out/g, as PyTorch does).
int64_t fan_in(const Shape& weight_shape);
void uniform_(ag::Var& v, double lo, double hi, Generator* g = nullptr);
void normal_(ag::Var& v, double mean, double std, Generator* g = nullptr);
void constant_(ag::Var& v, double value);
void zeros_(ag::Var& v);
// kaiming_uniform_ with leaky-relu slope a: bound = sqrt(6 / ((1 + a^2) fan_in)).
// PyTorch's Linear/Conv default is a = sqrt(5), i.e. bound = 1/sqrt(fan_in).
void kaiming_uniform_(ag::Var& v, double a, Generator* g = nullptr);

}  // namespace fg::nn
