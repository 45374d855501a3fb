// Layout ops, all one strided-copy kernel: permute, broadcast_to, concat, slice and its backward.
// reshape/unsqueeze/squeeze/flatten share storage.
#include <numeric>

#include "tensor/counters.h"
#include "tensor/ops_check.h"

namespace fg {

namespace {
void run_copy(const Tensor& src, Tensor& dst, StridedCopyParams p) {
  count_layout_bytes(numel(p.shape) * static_cast<int64_t>(dtype_size(src.dtype())));
  backend_for(src.device()).strided_copy(src, dst, p);
}
}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  detail::check_defined("permute", x);
  size_t r = x.shape().size();
  FG_CHECK(perm.size() == r, "permute: {} dims given for a tensor of shape {}", perm.size(), shape_str(x.shape()));
  std::vector<bool> seen(r, false);
  std::vector<int> np(r);
  for (size_t i = 0; i < r; ++i) {
    np[i] = normalize_dim(perm[i], r, "permute");
    FG_CHECK(!seen[np[i]], "permute: dim {} repeated in [{}]", perm[i], fmt::join(perm, ", "));
    seen[np[i]] = true;
  }
  auto cs = contiguous_strides(x.shape());
  StridedCopyParams p;
  for (size_t i = 0; i < r; ++i) {
    p.shape.push_back(x.shape()[np[i]]);
    p.src_strides.push_back(cs[np[i]]);
  }
  p.dst_strides = contiguous_strides(p.shape);
  Tensor out = Tensor::empty(p.shape, x.dtype(), x.device());
  run_copy(x, out, p);
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> perm(x.shape().size());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[normalize_dim(d0, perm.size(), "transpose")], perm[normalize_dim(d1, perm.size(), "transpose")]);
  return permute(x, perm);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("broadcast_to", x);
  FG_CHECK(broadcast_shapes(x.shape(), shape, "broadcast_to") == shape, "broadcast_to: {} does not broadcast to {}",
           shape_str(x.shape()), shape_str(shape));
  if (x.shape() == shape) return x;
  StridedCopyParams p;
  p.shape = shape;
  p.dst_strides = contiguous_strides(shape);
  p.src_strides.assign(shape.size(), 0);
  auto cs = contiguous_strides(x.shape());
  size_t off = shape.size() - x.shape().size();
  for (size_t i = 0; i < x.shape().size(); ++i) p.src_strides[off + i] = x.shape()[i] == 1 ? 0 : cs[i];
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  run_copy(x, out, p);
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  FG_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& f = xs[0];
  detail::check_defined("concat", f);
  int d = normalize_dim(dim, f.shape().size(), "concat");
  Shape out_shape = f.shape();
  out_shape[d] = 0;
  for (auto& x : xs) {
    detail::check_same("concat", f, x);
    bool ok = x.shape().size() == f.shape().size();
    for (size_t i = 0; ok && i < f.shape().size(); ++i) ok = static_cast<int>(i) == d || x.shape()[i] == f.shape()[i];
    FG_CHECK(ok, "concat: shapes {} and {} differ outside dim {}", shape_str(f.shape()), shape_str(x.shape()), d);
    out_shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, f.dtype(), f.device());
  auto os = contiguous_strides(out_shape);
  int64_t at = 0;
  for (auto& x : xs) {
    StridedCopyParams p;
    p.shape = x.shape();
    p.src_strides = contiguous_strides(x.shape());
    p.dst_strides = os;
    p.dst_offset = at * os[d];
    run_copy(x, out, p);
    at += x.shape()[d];
  }
  return out;
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  detail::check_defined("slice", x);
  int d = normalize_dim(dim, x.shape().size(), "slice");
  int64_t n = x.shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  FG_CHECK(0 <= start && start <= end && end <= n, "slice: range [{}, {}) is out of bounds for dim {} of {}", start,
           end, d, shape_str(x.shape()));
  StridedCopyParams p;
  p.shape = x.shape();
  p.shape[d] = end - start;
  p.src_strides = contiguous_strides(x.shape());
  p.dst_strides = contiguous_strides(p.shape);
  p.src_offset = start * p.src_strides[d];
  Tensor out = Tensor::empty(p.shape, x.dtype(), x.device());
  run_copy(x, out, p);
  return out;
}

Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start) {
  int d = normalize_dim(dim, in_shape.size(), "slice_backward");
  Tensor out = zeros(in_shape, g.dtype(), g.device());
  StridedCopyParams p;
  p.shape = g.shape();
  p.src_strides = contiguous_strides(g.shape());
  p.dst_strides = contiguous_strides(in_shape);
  p.dst_offset = start * p.dst_strides[d];
  run_copy(g, out, p);
  return out;
}

std::vector<int64_t> split_offsets(const Shape& s, const std::vector<int64_t>& sizes, int64_t dim) {
  int d = normalize_dim(dim, s.size(), "split");
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (auto n : sizes) {
    FG_CHECK(n >= 0, "split: negative size in [{}]", fmt::join(sizes, ", "));
    offsets.push_back(at);
    at += n;
  }
  FG_CHECK(at == s[d], "split: sizes [{}] do not add up to dim {} of {}", fmt::join(sizes, ", "), d, shape_str(s));
  return offsets;
}

std::vector<int64_t> chunk_sizes(const Shape& s, int64_t n, int64_t dim) {
  int d = normalize_dim(dim, s.size(), "chunk");
  FG_CHECK(n > 0 && s[d] % n == 0, "chunk: dim {} of {} does not split into {} equal chunks", d, shape_str(s), n);
  return std::vector<int64_t>(n, s[d] / n);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  auto offsets = split_offsets(x.shape(), sizes, dim);
  std::vector<Tensor> out;
  for (size_t i = 0; i < sizes.size(); ++i) out.push_back(slice(x, dim, offsets[i], offsets[i] + sizes[i]));
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t dim) { return split(x, chunk_sizes(x.shape(), n, dim), dim); }

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  Shape s = x.shape();
  int d = normalize_dim(dim, s.size() + 1, "unsqueeze");
  s.insert(s.begin() + d, 1);
  return x.reshape(s);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  Shape s = x.shape();
  int d = normalize_dim(dim, s.size(), "squeeze");
  FG_CHECK(s[d] == 1, "squeeze: dim {} of {} is not 1", d, shape_str(s));
  s.erase(s.begin() + d);
  return x.reshape(s);
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  Shape s = x.shape();
  int d = normalize_dim(start_dim, s.size(), "flatten");
  Shape o(s.begin(), s.begin() + d);
  o.push_back(-1);
  return x.reshape(o);
}

}  // namespace fg
