// Reductions over any set of dims of any strided view, with no copy: the kernel walks the kept
// dims for its outputs and the reduced dims for each (tensor/geometry.h).
#include <algorithm>

#include "tensor/geometry.h"
#include "tensor/ops_check.h"

namespace fg {

namespace {
const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "amax";
    case ReduceOp::Min: return "amin";
    case ReduceOp::LogSumExp: return "logsumexp";
  }
  return "reduce";
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const char* name = reduce_name(op);
  detail::check_float(name, x);
  size_t r = x.shape().size();
  std::vector<bool> red(r, dims.empty());
  for (auto d : dims) {
    int nd = normalize_dim(d, r, name);
    FG_CHECK(!red[nd], "{}: dim {} listed twice for shape {}", name, d, shape_str(x.shape()));
    red[nd] = true;
  }
  Shape out_shape;
  for (size_t i = 0; i < r; ++i) {
    if (red[i]) {
      if (keepdim) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.shape()[i]);
    }
  }
  int64_t R = 1;
  for (size_t i = 0; i < r; ++i)
    if (red[i]) R *= x.shape()[i];
  if (op != ReduceOp::Sum && op != ReduceOp::LogSumExp)
    FG_CHECK(R > 0, "{}: reducing an empty dimension of shape {}", name, shape_str(x.shape()));
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() > 0) launch(x.device()).reduce(op, reduce_params(name, x, red), x, out);
  return out;
}

Tensor sum(const Tensor& x, std::vector<int64_t> d, bool k) { return reduce(ReduceOp::Sum, x, std::move(d), k); }
Tensor mean(const Tensor& x, std::vector<int64_t> d, bool k) { return reduce(ReduceOp::Mean, x, std::move(d), k); }
Tensor amax(const Tensor& x, std::vector<int64_t> d, bool k) { return reduce(ReduceOp::Max, x, std::move(d), k); }
Tensor amin(const Tensor& x, std::vector<int64_t> d, bool k) { return reduce(ReduceOp::Min, x, std::move(d), k); }
Tensor logsumexp(const Tensor& x, std::vector<int64_t> d, bool k) {
  return reduce(ReduceOp::LogSumExp, x, std::move(d), k);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  size_t r = x.shape().size();
  FG_CHECK(shape.size() <= r, "sum_to: cannot sum {} to the larger rank {}", shape_str(x.shape()), shape_str(shape));
  size_t lead = r - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < r; ++i) {
    if (i < lead) {
      dims.push_back(static_cast<int64_t>(i));
    } else {
      int64_t want = shape[i - lead];
      FG_CHECK(want == x.shape()[i] || want == 1, "sum_to: {} does not broadcast to {}", shape_str(shape),
               shape_str(x.shape()));
      if (want == 1 && x.shape()[i] != 1) dims.push_back(static_cast<int64_t>(i));
    }
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace fg
