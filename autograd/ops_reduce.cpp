// Differentiable reductions. The upstream gradient is reshaped to keepdim form and broadcast
// back over the reduced dims; amax/amin split it evenly among tied extrema (as PyTorch's amax).
#include "flowgrad/autograd/functional.h"

namespace fg::ag {

namespace {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

// Shape of the reduction's output with keepdim=true.
Shape keep_shape(const Shape& in, const std::vector<int64_t>& dims) {
  Shape s = in;
  if (dims.empty()) {
    for (auto& d : s) d = 1;
  } else {
    for (auto d : dims) s[normalize_dim(d, in.size(), "reduce")] = 1;
  }
  return s;
}

// Shape of the reduction's output with keepdim=false.
Shape drop_shape(const Shape& in, const std::vector<int64_t>& dims) {
  Shape k = keep_shape(in, dims), out;
  std::vector<bool> red(in.size(), dims.empty());
  for (auto d : dims) red[normalize_dim(d, in.size(), "reduce")] = true;
  for (size_t i = 0; i < in.size(); ++i)
    if (!red[i]) out.push_back(in[i]);
  return out;
}

struct ReduceOpBase {
  std::vector<int64_t> dims;
  bool keepdim = false;
  Tensor x, y;  // y in keepdim form
  Tensor expand(const Tensor& g) const { return broadcast_to(g.reshape(keep_shape(x.shape(), dims)), x.shape()); }
};

struct SumOp : ReduceOpBase {
  OpId id() const { return OpId::sum; }
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    return fg::sum(x, dims, keepdim);
  }
  Grads backward(const Tensor& g, const Needs&) { return {expand(g)}; }
};

struct MeanOp : ReduceOpBase {
  OpId id() const { return OpId::mean; }
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    return fg::mean(x, dims, keepdim);
  }
  Grads backward(const Tensor& g, const Needs&) {
    double r = static_cast<double>(x.numel()) / static_cast<double>(std::max<int64_t>(1, numel(keep_shape(x.shape(), dims))));
    return {expand(g) * (1.0 / r)};
  }
};

template <ReduceOp R>
struct ExtremumOp : ReduceOpBase {
  OpId id() const { return R == ReduceOp::Max ? OpId::amax : OpId::amin; }
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    y = fg::reduce(R, x, dims, true);
    return keepdim ? y : y.reshape(drop_shape(x.shape(), dims));
  }
  Grads backward(const Tensor& g, const Needs&) {
    Tensor mask = fg::eq(x, y);  // broadcasts y
    Tensor count = fg::sum(mask, dims, true);
    return {expand(g) * mask / count};
  }
};

struct LogSumExpOp : ReduceOpBase {
  OpId id() const { return OpId::logsumexp; }
  Tensor forward(const std::vector<Tensor>& in) {
    x = in[0];
    y = fg::logsumexp(x, dims, true);
    return keepdim ? y : y.reshape(drop_shape(x.shape(), dims));
  }
  Grads backward(const Tensor& g, const Needs&) { return {expand(g) * fg::exp(x - y)}; }
};

template <class Op>
Var reduce_apply(const Var& x, std::vector<int64_t> dims, bool keepdim) {
  Op op;
  op.dims = std::move(dims);
  op.keepdim = keepdim;
  return apply(std::move(op), {x});
}

}  // namespace

Var sum(const Var& x, std::vector<int64_t> d, bool k) { return reduce_apply<SumOp>(x, std::move(d), k); }
Var mean(const Var& x, std::vector<int64_t> d, bool k) { return reduce_apply<MeanOp>(x, std::move(d), k); }
Var amax(const Var& x, std::vector<int64_t> d, bool k) {
  return reduce_apply<ExtremumOp<ReduceOp::Max>>(x, std::move(d), k);
}
Var amin(const Var& x, std::vector<int64_t> d, bool k) {
  return reduce_apply<ExtremumOp<ReduceOp::Min>>(x, std::move(d), k);
}
Var logsumexp(const Var& x, std::vector<int64_t> d, bool k) { return reduce_apply<LogSumExpOp>(x, std::move(d), k); }

}  // namespace fg::ag
