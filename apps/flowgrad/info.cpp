// flowgrad info: the build's configuration and a quick self-check of the engine (oneDNN conv
// against the reference kernel, one gradient check). Exit 1 if a check fails.
#include <cstdio>
#include <memory>

#include "apps/flowgrad/common.h"
#include "flowgrad/autograd/functional.h"
#include "flowgrad/autograd/gradcheck.h"
#include "tensor/cpu/cpu_backend.h"

namespace fg::app::cmd {

namespace {

int run_info(const CommonOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  Device dev = Device::parse(o.device);
  std::string why;
  bool cuda = device_available(Device::cuda(0), &why);
  std::printf("flowgrad 0.1.0\n  cpu threads: %d\n  oneDNN f32 fast paths: %s\n  cuda: %s\n", num_threads(),
              cpu::onednn_enabled() ? "on" : "off (FG_ONEDNN=0)", cuda ? "available" : why.c_str());
  if (!dev.is_cpu()) {
    std::string dwhy;
    bool ok = device_available(dev, &dwhy);
    std::printf("  --device %s: %s\n", dev.str().c_str(), ok ? "available" : dwhy.c_str());
    FG_CHECK(ok, "--device {}: {}", o.device, dwhy);
  }
  Tensor x = randn({8, 32, 28, 28}), w = randn({32, 32, 3, 3}), b = randn({32});
  ConvOptions co;
  co.padding = 1;
  Tensor fast = conv2d(x, w, &b, co);
  bool was = cpu::onednn_enabled();
  cpu::set_onednn_enabled(false);
  Tensor ref = conv2d(x, w, &b, co);
  cpu::set_onednn_enabled(was);
  double err = max_abs_diff(fast, ref);
  bool conv_ok = err < 1e-3;
  std::printf("  conv2d 3x3 oneDNN vs reference: max |diff| %.2e  %s\n", err, conv_ok ? "ok" : "FAILED");
  auto r = ag::gradcheck([](const std::vector<ag::Var>& v) { return ag::tanh(ag::matmul(v[0], v[1])); },
                         {randn({3, 4}, DType::F64), randn({4, 2}, DType::F64)});
  std::printf("  gradcheck tanh(matmul): max |diff| %.2e  %s\n", r.max_abs_error, r.ok ? "ok" : r.message.c_str());
  return conv_ok && r.ok ? 0 : 1;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto o = std::make_shared<CommonOptions>();
  CLI::App* sub = root.add_subcommand("info", "build configuration, threads, oneDNN, CUDA, and a quick self-check");
  add_common_options(sub, *o, false);
  return {sub, [o] { return run_info(*o); }};
}

}  // namespace fg::app::cmd
