// Shared by the fuzz harnesses: the input written to a per-process temporary file (the parsers
// under test read files, raw or gzip, as the programs do).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace fg::fuzz {

inline const std::string& scratch_path(const char* ext) {
  static std::string p = (std::filesystem::temp_directory_path() /
                          ("flowgrad-fuzz-" + std::to_string(getpid()) + ext)).string();
  return p;
}

inline const std::string& write_scratch(const uint8_t* data, size_t size, const char* ext) {
  const std::string& p = scratch_path(ext);
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (f) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return p;
}

}  // namespace fg::fuzz
