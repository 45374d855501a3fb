// Differentiable layout ops: reshape, permute (gradient: the inverse permutation, a view), concat
// (gradient: slices, views), slice (gradient: zero-padded), split/chunk (one node for all pieces,
// gradient: their concatenation), flip (gradient: flipped), broadcast_to (gradient: sum_to).
#include "flowgrad/autograd/functional.h"
#include "tensor/ops_internal.h"

namespace fg::ag {

namespace {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

struct ReshapeOp {
  OpId id() const { return OpId::reshape; }
  Shape to, from;
  Tensor forward(const std::vector<Tensor>& in) {
    from = in[0].shape();
    return in[0].reshape(to);
  }
  Grads backward(const Tensor& g, const Needs&) { return {g.reshape(from)}; }
};

// Materializes a view (a copy only when x is not contiguous), so that the ops that save it keep
// the dense copy rather than copying it again at each use; the gradient passes through.
struct ContiguousOp {
  OpId id() const { return OpId::contiguous; }
  Tensor forward(const std::vector<Tensor>& in) { return in[0].contiguous(); }
  Grads backward(const Tensor& g, const Needs&) { return {g}; }
};

struct PermuteOp {
  OpId id() const { return OpId::permute; }
  std::vector<int64_t> perm;
  Tensor forward(const std::vector<Tensor>& in) { return fg::permute(in[0], perm); }
  Grads backward(const Tensor& g, const Needs&) {
    std::vector<int64_t> inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inv[normalize_dim(perm[i], perm.size(), "permute")] = static_cast<int64_t>(i);
    return {fg::permute(g, inv)};
  }
};

struct ConcatOp {
  OpId id() const { return OpId::concat; }
  int64_t dim = 0;
  std::vector<int64_t> sizes;
  Tensor forward(const std::vector<Tensor>& in) {
    Tensor out = fg::concat(in, dim);
    dim = normalize_dim(dim, out.shape().size(), "concat");
    for (auto& t : in) sizes.push_back(t.shape()[dim]);
    return out;
  }
  Grads backward(const Tensor& g, const Needs& n) {
    Grads out(sizes.size());
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (n[i]) out[i] = fg::slice(g, dim, at, at + sizes[i]);
      at += sizes[i];
    }
    return out;
  }
};

struct SliceOp {
  OpId id() const { return OpId::slice; }
  int64_t dim = 0, start = 0, end = 0;
  Shape in_shape;
  Tensor forward(const std::vector<Tensor>& in) {
    in_shape = in[0].shape();
    int d = normalize_dim(dim, in_shape.size(), "slice");
    if (start < 0) start += in_shape[d];
    if (end < 0) end += in_shape[d];
    dim = d;
    return fg::slice(in[0], dim, start, end);
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::slice_backward(g, in_shape, dim, start)}; }
};

struct SplitOp {
  int64_t dim = 0;
  std::vector<int64_t> sizes;
  Shape in_shape;
  DType dtype = DType::F32;
  Device device;
  OpId id() const { return OpId::split; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) {
    in_shape = in[0].shape();
    dtype = in[0].dtype();
    device = in[0].device();
    dim = normalize_dim(dim, in_shape.size(), "split");
    return fg::split(in[0], sizes, dim);
  }
  Grads backward(const std::vector<Tensor>& g, const Needs&) {
    Grads parts(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i].defined()) {
        parts[i] = g[i];
      } else {
        Shape s = in_shape;
        s[dim] = sizes[i];
        parts[i] = zeros(s, dtype, device);
      }
    }
    return {fg::concat(parts, dim)};
  }
};

struct FlipOp {
  int64_t dim = 0;
  OpId id() const { return OpId::flip; }
  Tensor forward(const std::vector<Tensor>& in) { return fg::flip(in[0], dim); }
  Grads backward(const Tensor& g, const Needs&) { return {fg::flip(g, dim)}; }
};

struct BroadcastToOp {
  OpId id() const { return OpId::broadcast_to; }
  Shape to, from;
  Tensor forward(const std::vector<Tensor>& in) {
    from = in[0].shape();
    return fg::broadcast_to(in[0], to);
  }
  Grads backward(const Tensor& g, const Needs&) { return {fg::sum_to(g, from)}; }
};

}  // namespace

Var reshape(const Var& x, const Shape& shape) {
  ReshapeOp op;
  op.to = shape;
  return apply(std::move(op), {x});
}

Var contiguous(const Var& x) { return apply(ContiguousOp{}, {x}); }

Var permute(const Var& x, const std::vector<int64_t>& perm) {
  PermuteOp op;
  op.perm = perm;
  return apply(std::move(op), {x});
}

Var concat(const std::vector<Var>& xs, int64_t dim) {
  ConcatOp op;
  op.dim = dim;
  return apply(std::move(op), xs);
}

Var slice(const Var& x, int64_t dim, int64_t start, int64_t end) {
  SliceOp op;
  op.dim = dim;
  op.start = start;
  op.end = end;
  return apply(std::move(op), {x});
}

std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t dim) {
  fg::split_offsets(x.shape(), sizes, dim);  // checks the sizes
  SplitOp op;
  op.dim = dim;
  op.sizes = sizes;
  return apply_multi(std::move(op), {x});
}

Var flip(const Var& x, int64_t dim) {
  FlipOp op;
  op.dim = dim;
  return apply(std::move(op), {x});
}

std::vector<Var> chunk(const Var& x, int64_t n, int64_t dim) { return split(x, fg::chunk_sizes(x.shape(), n, dim), dim); }

Var broadcast_to(const Var& x, const Shape& shape) {
  BroadcastToOp op;
  op.to = shape;
  return apply(std::move(op), {x});
}

Var flatten(const Var& x, int64_t start_dim) { return reshape(x, fg::flatten(x.value(), start_dim).shape()); }
Var unsqueeze(const Var& x, int64_t dim) { return reshape(x, fg::unsqueeze(x.value(), dim).shape()); }

}  // namespace fg::ag
