// The CPU backend's one dtype dispatcher and typed-pointer helpers. dispatch_float runs f with a
// float or double tag (other dtypes throw naming the op); dispatch_all also takes i32 and u8.
#pragma once
#include <cstdint>

#include "flowgrad/tensor/tensor.h"

namespace fg::cpu {

template <class F>
void dispatch_float(DType t, const char* op, F&& f) {
  if (t == DType::F32) return f(float{});
  if (t == DType::F64) return f(double{});
  fail(fmt::format("{}: dtype {} is not supported (f32 and f64 are)", op, dtype_name(t)));
}

template <class F>
void dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::I32: return f(int32_t{});
    case DType::U8: return f(uint8_t{});
  }
}

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
