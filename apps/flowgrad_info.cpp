// flowgrad_info: prints the build's configuration and runs a quick self-check of the engine
// (oneDNN conv against the reference kernel, one gradient check). Exit 1 if a check fails.
#include <cstdio>

#include "autograd/functional.h"
#include "autograd/gradcheck.h"
#include "tensor/cpu/cpu_backend.h"

using namespace fg;

int main() {
  try {
    std::string why;
    bool cuda = device_available(Device::cuda(0), &why);
    std::printf("flowgrad 0.1.0\n  cpu threads: %d\n  oneDNN f32 fast paths: %s\n  cuda: %s\n", num_threads(),
                cpu::onednn_enabled() ? "on" : "off (FG_ONEDNN=0)", cuda ? "available" : why.c_str());
    Tensor x = randn({8, 32, 28, 28}), w = randn({32, 32, 3, 3}), b = randn({32});
    ConvOptions o;
    o.padding = 1;
    Tensor fast = conv2d(x, w, &b, o);
    cpu::set_onednn_enabled(false);
    Tensor ref = conv2d(x, w, &b, o);
    cpu::set_onednn_enabled(true);
    double err = max_abs_diff(fast, ref);
    bool conv_ok = err < 1e-3;
    std::printf("  conv2d 3x3 oneDNN vs reference: max |diff| %.2e  %s\n", err, conv_ok ? "ok" : "FAILED");
    auto r = ag::gradcheck([](const std::vector<ag::Var>& v) { return ag::tanh(ag::matmul(v[0], v[1])); },
                           {randn({3, 4}, DType::F64), randn({4, 2}, DType::F64)});
    std::printf("  gradcheck tanh(matmul): max |diff| %.2e  %s\n", r.max_abs_error, r.ok ? "ok" : r.message.c_str());
    return conv_ok && r.ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowgrad_info: %s\n", e.what());
    return 1;
  }
}
