// The GPU smoke stage (test suite "smoke", run first by tools/device_check: test_gpu -ts=smoke):
// in a few seconds, whether the CUDA module loads and one conv, one matmul and one Adam step on
// cuda:0 agree with the CPU. If these fail, the rest of the GPU tests would only repeat the cause.
#include <doctest/doctest.h>

#include "flowgrad/tensor/ops.h"
#include "tensor/backend.h"

using namespace fg;

namespace {
const Device kGpu = Device::cuda(0);

Tensor seeded(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return uniform(s, -1, 1, DType::F32, Device::cpu(), &g);
}

// max |a - b| / max(1, max |a|)
double rel(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to(Device::cpu()).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double d = 0, s = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    s = std::max(s, std::abs(x[i]));
  }
  return d / s;
}
}  // namespace

TEST_SUITE("smoke") {
  TEST_CASE("smoke: the cuda backend is there and names itself") {
    const std::string name = backend_of(kGpu).name();
    MESSAGE("cuda:0 backend: ", name);
    CHECK((name == "cuda" || name == "cuda-emulated"));
    CHECK(sum(ones({1000}, DType::F32, kGpu)).item() == 1000.0);
  }

  TEST_CASE("smoke: a 3x3 conv with bias on cuda matches the cpu") {
    Tensor x = seeded({8, 16, 14, 14}, 1), w = seeded({32, 16, 3, 3}, 2), b = seeded({32}, 3);
    ConvOptions o;
    o.padding = 1;
    Tensor bg = b.to(kGpu);
    Tensor y = conv2d(x, w, &b, o), yg = conv2d(x.to(kGpu), w.to(kGpu), &bg, o);
    CHECK(rel(y, yg) < 1e-4);
  }

  TEST_CASE("smoke: a batched matmul on cuda matches the cpu") {
    Tensor a = seeded({4, 33, 64}, 4), b = seeded({4, 64, 17}, 5);
    CHECK(rel(matmul(a, b), matmul(a.to(kGpu), b.to(kGpu))) < 1e-4);
  }

  TEST_CASE("smoke: one Adam step on cuda matches the cpu") {
    Tensor w = seeded({1000}, 6), g = seeded({1000}, 7), m = zeros({1000}), v = zeros({1000});
    Tensor wg = w.to(kGpu), gg = g.to(kGpu), mg = m.to(kGpu), vg = v.to(kGpu);
    Tensor step = zeros({1}, DType::F64), stepg = step.to(kGpu);
    const AdamParams p{1e-3, 0.9, 0.999, 1e-8, 0.0};
    adam_step(p, {{&w}, {&m}, {&v}, {&g}}, step);
    adam_step(p, {{&wg}, {&mg}, {&vg}, {&gg}}, stepg);
    CHECK(rel(w, wg) < 2e-6);
    CHECK(rel(v, vg) < 2e-6);
    CHECK(stepg.item() == 1.0);
  }
}
