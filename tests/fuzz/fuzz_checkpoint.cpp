// libFuzzer harness: the checkpoint loader (safetensors header, entries, offsets, checksums,
// then the checkpoint's own format checks) on arbitrary bytes; a file that loads is also restored
// into a small module, which must either fit or throw fg::Error.
#include <cstdint>

#include "fuzz_util.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/nn/layers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fg::fuzz::write_scratch(data, size, ".safetensors");
  try {
    fg::nn::Checkpoint ck = fg::nn::load_checkpoint(path);
    static fg::nn::Linear layer(3, 2);
    fg::nn::restore(ck, layer, nullptr, false);
    (void)ck.get_int("step");
  } catch (const fg::Error&) {
  }
  return 0;
}
