// Shapes: row-major, contiguous. Helpers for numel, strides, broadcasting and dim normalization.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fg {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
std::vector<int64_t> contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, rank); throws naming `op` when out of range.
int normalize_dim(int64_t dim, size_t rank, const char* op);

}  // namespace fg
