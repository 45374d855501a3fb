// The GPU test program's main: with no usable GPU it prints "gpu tests: N skipped: <why>" and
// exits 77 (meson's SKIP; tools/summarize_tests.py counts the N cases as needing a GPU), unless
// FG_REQUIRE_GPU=1 makes that a failure (tools/device_check sets it: on the GPU machine a missing
// device is an error, not a skip). With a GPU (or FG_EMULATE_CUDA=1, which runs the same cases on
// the CPU kernels behind the cuda device kind), every gradient check runs on cuda:0 and the parity
// harness compares the cuda backend with the CPU reference.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "flowgrad/autograd/gradcheck.h"
#include "tensor/backend.h"

int main(int argc, char** argv) {
  std::string why;
  if (!fg::device_available(fg::Device::cuda(0), &why)) {
    std::vector<const char*> args(argv, argv + argc);
    args.push_back("--count");  // (setOption("count", true) is not honoured by doctest 2.4.9)
    doctest::Context count;
    count.applyCommandLine(static_cast<int>(args.size()), args.data());
    std::ostringstream os;
    count.setCout(&os);
    count.run();
    int n = 0;
    const std::string s = os.str();
    const auto at = s.find("filters: ");
    if (at != std::string::npos) n = std::atoi(s.c_str() + at + 9);
    std::printf("gpu tests: %d skipped: %s\n", n, why.c_str());
    const char* req = std::getenv("FG_REQUIRE_GPU");
    if (req && std::string(req) == "1") {
      std::printf("FG_REQUIRE_GPU=1: a missing GPU is a failure here\n");
      return 1;
    }
    return 77;
  }
  std::printf("gpu tests on cuda:0 (backend %s%s)\n", fg::backend_name(fg::Device::cuda(0)).c_str(),
              fg::allow_tf32() ? ", TF32 on" : "");
  fg::ag::set_default_gradcheck_device(fg::Device::cuda(0));
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
