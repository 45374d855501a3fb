// Shared geometry for kernels, computed once per op on the host: the broadcast and coalesced
// stride walk of an elementwise kernel, and the kept/reduced split of a reduction. Backends take
// the resulting plain structs (tensor/backend.h) as they are.
#pragma once
#include <initializer_list>

#include "tensor/backend.h"

namespace fg {

// Operand 0 is `out` (its own strides); each input is broadcast to out's shape (NumPy rules: missing
// leading dims and size-1 dims get stride 0). Dims of size 1 are dropped and adjacent dims merged
// where every operand is contiguous across the pair. Throws naming `op` for rank > kMaxDims.
ElementwiseParams elementwise_params(const char* op, const Tensor& out, std::initializer_list<const Tensor*> inputs);

// Reduction of x over the dims marked in `reduced` (size x.dim()), into an output laid out as the
// kept dims in order. Kept and reduced dims are each coalesced where the input allows.
ReduceParams reduce_params(const char* op, const Tensor& x, const std::vector<bool>& reduced);

}  // namespace fg
