// IDX files (the MNIST format): a big-endian header (magic 0x0000TTDD: TT = data type, DD = number
// of dimensions; then DD big-endian uint32 sizes) followed by the data. Raw or gzip-compressed
// (detected by the gzip magic 1f 8b, read through zlib).
#pragma once
#include <string>

#include "flowgrad/tensor/tensor.h"

namespace fg::nn {

// Reads an IDX file of unsigned bytes (TT = 0x08) into a CPU U8 tensor whose shape is the header's
// dimensions (e.g. [60000, 28, 28] for MNIST images, [60000] for labels). Throws fg::Error naming
// the file and what is wrong: cannot open, bad magic, unsupported data type, no dimensions, a zero
// dimension, a truncated header, "expected N bytes of data, found M" for a truncated payload,
// trailing bytes after the data, or a corrupt gzip stream.
Tensor read_idx(const std::string& path);

// Writes a U8 tensor as a raw (uncompressed) IDX file, atomically. Used by tests and tools.
void write_idx(const std::string& path, const Tensor& t);

}  // namespace fg::nn
