// Small dense linear algebra (Glow's 1x1 convolution needs it): LU with partial pivoting on the
// host, and inverse and log|det| as device ops (backend kernels; on the CPU in double).
#pragma once
#include <vector>

#include "flowgrad/tensor/tensor.h"

namespace fg {

struct LUResult {
  Tensor lu;               // L (unit diagonal, below) and U (on and above the diagonal), packed
  std::vector<int> perm;   // row i of P*A is row perm[i] of A
  int sign = 1;            // sign of the permutation
  bool singular = false;   // a zero pivot was met
};

// Host LU of a [n, n] matrix (a host read; used at initialization).
LUResult lu_factor(const Tensor& a);
// In-place LU of row-major n x n doubles (the kernel behind lu_factor and the CPU backend).
void lu_inplace(std::vector<double>& m, int n, std::vector<int>& perm, int& sign, bool& singular);

// [n, n] -> [n, n] on the input's device; throws naming the shape if singular (on the CPU).
Tensor inverse(const Tensor& a);
// log|det a| as a 0-d tensor on a's device (-inf when singular), no host read.
Tensor logabsdet(const Tensor& a);
struct SlogdetResult {
  double sign;          // -1, 0 or +1
  double logabsdet;     // -inf when singular
};
SlogdetResult slogdet(const Tensor& a);  // both values on the host (a host read)

}  // namespace fg
