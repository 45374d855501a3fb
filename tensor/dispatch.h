// The host dtype dispatcher of every backend: dispatch_float(t, op, f) runs f(float{}) or
// f(double{}) and throws fg::Error naming the op and the dtype for any other; dispatch_all also
// takes i32 and u8. f is usually a generic lambda whose body calls a template on T = decltype(tag)
// (a CPU loop, or a CUDA kernel launch: nvcc takes these host lambdas, so this header stays
// C++17-clean for the .cu files of tensor/cuda).
#pragma once
#include <cstdint>

#include "flowgrad/tensor/dtype.h"
#include "flowgrad/tensor/error.h"

namespace fg {

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
  fail(fmt::format("dtype {} has no kernel", static_cast<int>(t)));
}

}  // namespace fg
