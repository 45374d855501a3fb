// Shapes and strides (in elements). Helpers for numel, contiguous strides, views, broadcasting and
// dim normalization.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flowgrad/detail/params.h"

namespace fg {

using Shape = std::vector<int64_t>;


int64_t numel(const Shape& s);
std::vector<int64_t> contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);
// Strides that view memory laid out as (shape, strides) with new_shape, when no copy is needed
// (PyTorch's view rule: each group of merged/split dims must be contiguous within itself);
// empty optional-like result (false) otherwise.
bool view_strides(const Shape& shape, const std::vector<int64_t>& strides, const Shape& new_shape,
                  std::vector<int64_t>& out);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, rank); throws naming `op` when out of range.
int normalize_dim(int64_t dim, size_t rank, const char* op);

}  // namespace fg
