// The CPU kernels' typed pointers into tensors (the dtype dispatcher they use is the backends'
// shared one, tensor/dispatch.h).
#pragma once
#include <cstdint>

#include "flowgrad/tensor/tensor.h"

namespace fg::cpu {

// Pointers to a tensor's first element (nullptr for a null tensor). The dense variants are for
// kernels that need contiguous memory; ops.h guarantees it, and this checks it.
template <class T> const T* in_ptr(const Tensor* t) { return t ? static_cast<const T*>(t->raw()) : nullptr; }
template <class T> T* out_ptr(Tensor* t) { return t ? static_cast<T*>(t->raw()) : nullptr; }
template <class T> const T* dense_in(const Tensor* t) {
  FG_CHECK(!t || t->is_contiguous(), "cpu kernel: expected a contiguous input, got a view {}", shape_str(t->shape()));
  return in_ptr<T>(t);
}
template <class T> T* dense_out(Tensor* t) {
  FG_CHECK(!t || t->is_contiguous(), "cpu kernel: expected a contiguous output, got a view {}", shape_str(t->shape()));
  return out_ptr<T>(t);
}

}  // namespace fg::cpu
