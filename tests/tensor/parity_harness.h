// The backend parity harness (see test_backend_parity.cpp for what it checks and its tolerances):
// the candidates, check(), seeded inputs, strided views and the tolerance classes shared by the
// parity files. One parity_<name>() per entry of tensor/backend.def is declared here.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/geometry.h"
#include "flowgrad/tensor/linalg.h"
#include "flowgrad/tensor/ops.h"

namespace fg::parity {

struct Candidate {
  std::string name;
  Backend* backend;
  Device device;
};

inline std::vector<Candidate> candidates() {
  std::vector<Candidate> c;
#ifdef FG_PARITY_GPU
  for (int i = 0; i < 8 && device_available(Device::cuda(i)); ++i)
    c.push_back({Device::cuda(i).str() + " (" + backend_of(Device::cuda(i)).name() + ")", &backend_of(Device::cuda(i)),
                 Device::cuda(i)});
#else
  static cpu::CpuBackend onednn(1);
  c.push_back({"cpu-onednn", &onednn, Device::cpu()});
#endif
  return c;
}

struct Tol {
  double f32, f64;
};
inline constexpr Tol kElementwise{2e-6, 1e-13}, kNormal{2e-6, 1e-12}, kReduce{1e-5, 1e-12}, kDense{1e-4, 1e-11},
    kLinalg{1e-5, 1e-12};

inline double rel_err(const Tensor& want, const Tensor& got) {
  auto a = want.to_vector<double>(), b = got.to_vector<double>();
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i]) || a[i] == b[i]) continue;
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return diff / scale;
}

// A kernel run: builds its inputs on `d` (identically for every call), runs `b`, returns the outputs.
using Run = std::function<std::vector<Tensor>(Backend& b, Device d)>;

inline void check(const std::string& what, Tol tol, const Run& run) {
  cpu::CpuBackend ref(0);
  std::vector<Tensor> want = run(ref, Device::cpu());
  for (const Candidate& c : candidates()) {
    std::vector<Tensor> got = run(*c.backend, c.device);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(got[i].shape() == want[i].shape());
      double t = want[i].dtype() == DType::F64 ? tol.f64 : tol.f32;
      double e = rel_err(want[i], got[i]);
      INFO(what, " on ", c.name, ": output ", i, " ", shape_str(want[i].shape()), " ", dtype_name(want[i].dtype()),
           " err ", e, " (tolerance ", t, ")");
      CHECK(e <= t);
    }
  }
}

// Seeded uniform inputs, rounded to f32 first so that the f32 and f64 runs of a kernel see the same
// values (check_typed compares them).
inline Tensor input(const Shape& s, DType t, uint64_t seed, Device d, double lo = -1, double hi = 1) {
  Generator g(seed);
  return uniform(s, lo, hi, DType::F64, Device::cpu(), &g).to(DType::F32).to(t).to(d);
}
inline Tensor out(const Shape& s, DType t, Device d) { return Tensor::empty(s, t, d); }

inline constexpr DType kTypes[] = {DType::F32, DType::F64};

// A kernel run for a given dtype.
using TypedRun = std::function<std::vector<Tensor>(Backend& b, Device d, DType t)>;

// check() in f32 and in f64; then, on the CPU, the f32 run against the f64 run on the same
// (f32-representable) inputs at the f32 tolerance: each kernel's own f32 path (vectorized loops,
// the fast exp and friends of tensor/cpu/fast_math.h, fused loops) against a scalar f64 evaluation
// of the same formula, which check() cannot do on a machine whose candidates share those paths.
inline void check_typed(const std::string& what, Tol tol, const TypedRun& run) {
  for (DType t : kTypes)
    check(what + " " + dtype_name(t), tol, [&](Backend& b, Device d) { return run(b, d, t); });
#ifndef FG_PARITY_GPU
  cpu::CpuBackend cpu_backend;
  const std::vector<Tensor> f32 = run(cpu_backend, Device::cpu(), DType::F32);
  const std::vector<Tensor> f64 = run(cpu_backend, Device::cpu(), DType::F64);
  REQUIRE(f32.size() == f64.size());
  for (size_t i = 0; i < f32.size(); ++i) {
    const double e = rel_err(f64[i], f32[i]);
    INFO(what, ": the cpu's f32 output ", i, " ", shape_str(f32[i].shape()), " against its f64 one: err ", e,
         " (tolerance ", tol.f32, ")");
    CHECK(e <= tol.f32);
  }
#endif
}
inline Tensor eye(int64_t n, DType t, Device d) {
  std::vector<double> v(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  return from_vector(v, {n, n}).to(t).to(d);
}

// Strided views of a base tensor: the same recipe on every device.
struct View {
  const char* name;
  Shape base;
  std::function<Tensor(const Tensor&)> make;
};
inline const std::vector<View>& views() {
  static const std::vector<View> v = {
      {"dense [64,32,28,28]", {64, 32, 28, 28}, [](const Tensor& t) { return t; }},
      {"permuted NCHW->NHWC", {4, 6, 5, 7}, [](const Tensor& t) { return permute(t, {0, 2, 3, 1}); }},
      {"channel slice", {3, 8, 5, 5}, [](const Tensor& t) { return slice(t, 1, 2, 6); }},
      {"transposed 2-d", {33, 17}, [](const Tensor& t) { return transpose(t, 0, 1); }},
      {"flipped (negative stride)", {5, 9}, [](const Tensor& t) {
         return t.view(t.shape(), {t.strides()[0], -1}, t.offset() + t.shape()[1] - 1);
       }},
      {"rank 6 (squeeze's permute)", {2, 3, 2, 4, 2, 3}, [](const Tensor& t) { return permute(t, {0, 1, 3, 5, 2, 4}); }},
  };
  return v;
}

}  // namespace fg::parity

#define FG_BACKEND_OP(name, params) void parity_##name();
#include "tensor/backend.def"
#undef FG_BACKEND_OP
