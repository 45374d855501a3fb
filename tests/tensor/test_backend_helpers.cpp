// The helpers every backend shares: the dtype dispatcher's error, the alignment copies that cuDNN's
// inputs get (tensor/aligned.h), and what a layer norm over no channels writes.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/tensor/ops.h"
#include "tensor/aligned.h"
#include "tensor/dispatch.h"
#include "tensor/ops_internal.h"

using namespace fg;

TEST_CASE("dispatch_float runs f32 and f64 and names the op and the dtype it refuses") {
  int got = 0;
  dispatch_float(DType::F32, "op", [&](auto z) { got = sizeof(z); });
  CHECK(got == 4);
  dispatch_float(DType::F64, "op", [&](auto z) { got = sizeof(z); });
  CHECK(got == 8);
  CHECK_THROWS_WITH_AS(dispatch_float(DType::I32, "my_kernel", [](auto) {}),
                       "my_kernel: dtype i32 is not supported (f32 and f64 are)", Error);
  dispatch_all(DType::U8, [&](auto z) { got = sizeof(z); });
  CHECK(got == 1);
}

TEST_CASE("a contiguous view that starts off a 16-byte boundary gets an aligned copy; others are left alone") {
  Backend& b = backend_of(Device::cpu());
  Tensor base = arange(0, 65, 1, DType::F32);
  Tensor view = slice(base, 0, 1, 65).reshape({4, 16});  // starts 4 bytes into the storage
  REQUIRE(view.is_contiguous());
  REQUIRE(!is_aligned(view, 16));
  Tensor a = aligned_input(b, view);
  CHECK(is_aligned(a, 16));
  CHECK(a.raw() != view.raw());
  CHECK(a.to_vector<float>() == view.to_vector<float>());
  CHECK(aligned_input(b, base).raw() == base.raw());  // already aligned: no copy

  Tensor out_base = zeros({65}, DType::F32);
  Tensor out = slice(out_base, 0, 1, 65).reshape({4, 16});
  void* seen = nullptr;
  with_aligned_output(b, out, [&](Tensor& o) {
    seen = o.raw();
    b.fill(o, 3.0);
  });
  CHECK(seen != out.raw());
  auto v = out_base.to_vector<float>();
  CHECK(v[0] == 0.0f);
  for (int i = 1; i < 65; ++i) CHECK(v[i] == 3.0f);
}

TEST_CASE("a layer norm over zero channels writes mean 0 and rstd 1/sqrt(eps) at every position") {
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = zeros({2, 0, 3}, t);
    LayerNormResult r = layer_norm_forward(x, 1, nullptr, nullptr, 1e-4);
    REQUIRE(r.mean.numel() == 6);
    for (double m : r.mean.to_vector<double>()) CHECK(m == 0.0);
    for (double s : r.rstd.to_vector<double>()) CHECK(s == doctest::Approx(100.0).epsilon(1e-6));
  }
}

TEST_CASE("copying an empty transposed view writes nothing and does not divide by its zero dims") {
  Backend& b = backend_of(Device::cpu());
  Tensor x = transpose(zeros({0, 5}), 0, 1), o = Tensor::empty({5, 0});
  b.copy(elementwise_params("copy", o, {&x}), x, o);  // was SIGFPE in the transposed-copy path
  CHECK(o.numel() == 0);
  CHECK(x.contiguous().shape() == Shape{5, 0});
}
