// Alignment for libraries that want it (cuDNN 9 rejects, or silently slows on, pointers off a
// 16-byte boundary): a contiguous view with an offset (a batch slice, a channel chunk at N = 1)
// starts wherever its first element falls. aligned_input gives such a tensor as a contiguous copy
// in fresh storage (which every backend's allocator aligns to at least 64 bytes); with_aligned_output
// runs f on an aligned stand-in for a misaligned output and copies the result into it. Both copy
// with the backend's own copy kernel and leave aligned tensors alone.
#pragma once
#include <cstdint>

#include "tensor/backend.h"
#include "tensor/geometry.h"

namespace fg {

inline bool is_aligned(const Tensor& t, size_t alignment) {
  return !t.defined() || t.numel() == 0 || reinterpret_cast<uintptr_t>(t.raw()) % alignment == 0;
}

inline Tensor aligned_input(Backend& b, const Tensor& t, size_t alignment = 16) {
  if (is_aligned(t, alignment)) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  b.copy(elementwise_params("aligned copy", c, {&t}), t, c);
  return c;
}

// f(Tensor& o) with o = out itself when aligned, else a fresh tensor copied into out afterwards
template <class F>
void with_aligned_output(Backend& b, Tensor& out, F&& f, size_t alignment = 16) {
  if (is_aligned(out, alignment)) return f(out);
  Tensor o = Tensor::empty(out.shape(), out.dtype(), out.device());
  f(o);
  b.copy(elementwise_params("aligned copy", out, {&o}), o, out);
}

}  // namespace fg
