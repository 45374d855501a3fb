#include "flowgrad/tensor/shape.h"

#include "flowgrad/tensor/error.h"

namespace fg {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

bool view_strides(const Shape& shape, const std::vector<int64_t>& strides, const Shape& new_shape,
                  std::vector<int64_t>& out) {
  out.assign(new_shape.size(), 0);
  if (numel(shape) == 0 || shape.empty()) {
    out = contiguous_strides(new_shape);
    return true;
  }
  // Walk the old dims from the right in chunks that are contiguous within themselves; each chunk
  // must be covered exactly by a run of new dims.
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    FG_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} cannot be broadcast together", op,
             shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_dim(int64_t dim, size_t rank, const char* op) {
  int64_t r = static_cast<int64_t>(rank);
  FG_CHECK(dim >= -r && dim < r, "{}: dim {} is out of range for a tensor of rank {}", op, dim, r);
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

}  // namespace fg
