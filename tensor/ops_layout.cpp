// Layout ops. Views share storage and copy nothing: permute/transpose, slice and split/chunk,
// broadcast_to (stride 0), squeeze/unsqueeze, flatten (when the strides allow). Copies run one
// strided-copy kernel (copy_into): concat, flip, slice_backward, contiguous().
#include <numeric>

#include "flowgrad/tensor/counters.h"
#include "tensor/geometry.h"
#include "tensor/ops_check.h"
#include "tensor/ops_internal.h"

namespace fg {

void copy_into(const Tensor& src, Tensor& dst) {
  detail::check_same("copy", src, dst);
  FG_CHECK(src.shape() == dst.shape(), "copy: shapes {} and {} differ", shape_str(src.shape()),
           shape_str(dst.shape()));
  if (src.numel() == 0) return;
  count_layout_bytes(static_cast<int64_t>(src.nbytes()));
  launch(src.device()).copy(elementwise_params("copy", dst, {&src}), src, dst);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  detail::check_defined("permute", x);
  size_t r = x.shape().size();
  FG_CHECK(perm.size() == r, "permute: {} dims given for a tensor of shape {}", perm.size(), shape_str(x.shape()));
  std::vector<bool> seen(r, false);
  Shape s(r);
  std::vector<int64_t> st(r);
  for (size_t i = 0; i < r; ++i) {
    int d = normalize_dim(perm[i], r, "permute");
    FG_CHECK(!seen[d], "permute: dim {} repeated in [{}]", perm[i], fmt::join(perm, ", "));
    seen[d] = true;
    s[i] = x.shape()[d];
    st[i] = x.strides()[d];
  }
  return x.view(s, st, x.offset());
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
  std::vector<int64_t> st(shape.size(), 0);
  size_t off = shape.size() - x.shape().size();
  for (size_t i = 0; i < x.shape().size(); ++i) st[off + i] = x.shape()[i] == 1 ? 0 : x.strides()[i];
  return x.view(shape, st, x.offset());
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
  int64_t at = 0;
  for (auto& x : xs) {
    Tensor part = slice(out, d, at, at + x.shape()[d]);
    copy_into(x, part);
    at += x.shape()[d];
  }
  return out;
}

Tensor flip(const Tensor& x, int64_t dim) {
  detail::check_defined("flip", x);
  int d = normalize_dim(dim, x.shape().size(), "flip");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return out;
  std::vector<int64_t> st = x.strides();
  st[d] = -st[d];
  Tensor reversed = x.view(x.shape(), st, x.offset() + (x.shape()[d] - 1) * x.strides()[d]);
  copy_into(reversed, out);
  return out;
}

Tensor gather_rows(const Tensor& x, const Tensor& index) {
  detail::check_defined("gather_rows", x);
  FG_CHECK(x.dim() >= 1, "gather_rows: needs a tensor with rows, got a scalar");
  FG_CHECK(index.defined() && index.dtype() == DType::I32 && index.dim() == 1 && index.device() == x.device(),
           "gather_rows: the index must be a 1-d i32 tensor on {}", x.device().str());
  Shape s = x.shape();
  s[0] = index.size(0);
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  if (out.numel() > 0) launch(x.device()).gather_rows(x.contiguous(), index.contiguous(), out);
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
  Shape s = x.shape();
  s[d] = end - start;
  return x.view(s, x.strides(), x.offset() + start * x.strides()[d]);
}

Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start) {
  int d = normalize_dim(dim, in_shape.size(), "slice_backward");
  Tensor out = zeros(in_shape, g.dtype(), g.device());
  Tensor part = slice(out, d, start, start + g.shape()[d]);
  copy_into(g, part);
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
  detail::check_defined("unsqueeze", x);
  Shape s = x.shape();
  std::vector<int64_t> st = x.strides();
  int d = normalize_dim(dim, s.size() + 1, "unsqueeze");
  int64_t stride = d < static_cast<int>(s.size()) ? st[d] * s[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return x.view(s, st, x.offset());
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  detail::check_defined("squeeze", x);
  Shape s = x.shape();
  std::vector<int64_t> st = x.strides();
  int d = normalize_dim(dim, s.size(), "squeeze");
  FG_CHECK(s[d] == 1, "squeeze: dim {} of {} is not 1", d, shape_str(s));
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return x.view(s, st, x.offset());
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  Shape s = x.shape();
  int d = normalize_dim(start_dim, s.size(), "flatten");
  Shape o(s.begin(), s.begin() + d);
  o.push_back(-1);
  return x.reshape(o);
}

}  // namespace fg
