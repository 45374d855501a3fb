// libFuzzer harness: the IDX reader (MNIST's format, raw or gzip) on arbitrary bytes. Every input
// must either load or throw fg::Error; anything else (a crash, a sanitizer report, another
// exception, an allocation beyond the header's checked promise) is a finding.
#include <cstdint>

#include "fuzz_util.h"
#include "flowgrad/nn/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fg::fuzz::write_scratch(data, size, ".idx");
  try {
    fg::Tensor t = fg::nn::read_idx(path);
    (void)t.numel();
  } catch (const fg::Error&) {
  }
  return 0;
}
