// Shared argument checks for the op files: each names the op and the shapes involved.
#pragma once
#include "flowgrad/tensor/ops.h"
#include "tensor/backend.h"
#include "tensor/ops_internal.h"

namespace fg::detail {

inline void check_defined(const char* op, const Tensor& t) {
  FG_CHECK(t.defined(), "{}: got an undefined tensor", op);
}

inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  FG_CHECK(a.device() == b.device(), "{}: tensors are on different devices ({} {} and {} {}); move one with .to()",
           op, shape_str(a.shape()), a.device().str(), shape_str(b.shape()), b.device().str());
  FG_CHECK(a.dtype() == b.dtype(), "{}: dtype mismatch ({} {} and {} {})", op, shape_str(a.shape()),
           dtype_name(a.dtype()), shape_str(b.shape()), dtype_name(b.dtype()));
}

inline void check_float(const char* op, const Tensor& t) {
  check_defined(op, t);
  FG_CHECK(is_floating(t.dtype()), "{}: expected a floating tensor, got {} {}", op, dtype_name(t.dtype()),
           shape_str(t.shape()));
}

inline void check_rank(const char* op, const Tensor& t, int64_t rank, const char* what) {
  FG_CHECK(t.dim() == rank, "{}: {} must have rank {}, got shape {}", op, what, rank, shape_str(t.shape()));
}

}  // namespace fg::detail
