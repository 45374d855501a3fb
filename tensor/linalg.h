// Small dense linear algebra on the CPU (Glow's 1x1 convolution needs it): LU with partial
// pivoting, inverse, sign and log|det|. Inputs [n, n], f32 or f64, on any device (computed on
// the host in double, returned on the input's device and dtype).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace fg {

struct LUResult {
  Tensor lu;               // L (unit diagonal, below) and U (on and above the diagonal), packed
  std::vector<int> perm;   // row i of P*A is row perm[i] of A
  int sign = 1;            // sign of the permutation
  bool singular = false;   // a zero pivot was met
};

LUResult lu_factor(const Tensor& a);
Tensor inverse(const Tensor& a);       // throws naming the shape if singular
struct SlogdetResult {
  double sign;          // -1, 0 or +1
  double logabsdet;     // -inf when singular
};
SlogdetResult slogdet(const Tensor& a);

}  // namespace fg
