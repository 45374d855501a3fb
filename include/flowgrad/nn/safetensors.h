// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// (padded with spaces to a multiple of 8), then the raw little-endian tensor data; offsets are
// relative to the start of the data. Files open in Python with safetensors.torch.load_file.
#pragma once
#include <map>
#include <string>

#include "flowgrad/tensor/tensor.h"

namespace fg::nn {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;        // CPU tensors
  std::map<std::string, std::string> metadata;  // the "__metadata__" entry (string -> string)
};

// Writes the tensors (copied to the CPU; dtypes F32, F64, I32, U8), the metadata and one CRC32
// per tensor (metadata "crc32.<name>") atomically:
// a crash or an error leaves any existing file at `path` intact. Tensor data is laid out in name
// order. Throws fg::Error naming the file and the tensor (undefined tensor, reserved name, ...).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a safetensors file: header length against the file size, JSON syntax, each
// entry's fields, dtype (F32/F64/I32/U8, any case), shape x dtype size == data_offsets span,
// offsets inside the data section, no overlaps or holes, metadata values are strings, and each
// tensor's CRC32 where the metadata holds one ("crc32.<name>": 8 hex digits; save_safetensors
// writes them; files from other writers without them load too). One fg::Error names the file,
// the first three problems and how many more there are; text from the file is escaped.
SafetensorsFile load_safetensors(const std::string& path);

// "F32", "F64", "I32", "U8"; and the inverse (case-insensitive), false if unknown.
const char* safetensors_dtype(DType t);
bool parse_safetensors_dtype(const std::string& s, DType& out);

}  // namespace fg::nn
