// Helpers for flow tests (the round trip and brute-force log-det are the library's,
// flowgrad/flows/check.h): random re-initialization so zero-initialized layers are not the
// identity, oneDNN against the reference kernels, parameter gradients by central differences.
#pragma once
#include <doctest/doctest.h>

#include <functional>

#include <cstdio>
#include <cstdlib>

#include "flowgrad/flows/check.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/autograd/gradcheck.h"
#include "flowgrad/nn/init.h"
#include "tensor/cpu/cpu_backend.h"
#include "flowgrad/tensor/linalg.h"

namespace fg::flows::testing {


using flows::brute_force_logdet;
using flows::round_trip;
using flows::RoundTrip;

// example 0's forward log-det
inline double forward_ldj(Flow& f, const Tensor& z0, const ag::Var* cond = nullptr) {
  ag::NoGradGuard ng;
  ag::Var z(z0), ldj(zeros({z0.size(0)}, z0.dtype()));
  f.forward(z, ldj, {cond});
  return ldj.value().to_vector<double>()[0];
}

// Re-draws every parameter of m from N(0, std^2) (seeded).
inline void randomize(nn::Module& m, double std, uint64_t seed) {
  Generator g(seed);
  for (auto& p : m.parameters()) {
    ag::Var v = p;
    nn::normal_(v, 0.0, std, &g);
  }
}

// Runs y = f(x0) on the oneDNN paths (channel-blocked ones included) and on the reference kernels,
// backpropagating sum(y * r) for a fixed random r, and checks y, dx and every parameter gradient of
// m agree within 1e-4 of their scale; and y without a graph (inference, whose layouts may differ).
inline void check_onednn_matches_reference(nn::Module& m, const Tensor& x0,
                                           const std::function<ag::Var(const ag::Var&)>& f) {
  Tensor r;
  auto run = [&](bool onednn) {
    cpu::set_onednn_enabled(onednn);
    m.zero_grad();
    ag::Var x(x0, true);
    ag::Var y = f(x);
    if (!r.defined()) r = randn(y.shape());
    ag::sum(y * ag::Var(r)).backward();
    std::vector<Tensor> out{y.value(), x.grad()};
    for (auto& p : m.parameters()) out.push_back(p.grad());
    cpu::set_onednn_enabled(true);
    return out;
  };
  const auto fast = run(true), ref = run(false);
  Tensor inference;
  {
    ag::NoGradGuard ng;
    inference = f(ag::Var(x0)).value();
  }
  CHECK(max_abs_diff(inference, ref[0]) < 1e-4 * (1 + max_abs_diff(ref[0], zeros_like(ref[0]))));
  REQUIRE(fast.size() == ref.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    CAPTURE(i);
    CHECK(max_abs_diff(fast[i], ref[i]) < 1e-4 * (1 + max_abs_diff(ref[i], zeros_like(ref[i]))));
  }
}

// Central differences (f64) for up to `per_param` elements of every parameter of m against the
// autograd gradient of loss(). Returns the first mismatch, or "" when all agree within
// 1e-5 + 1e-3 |numeric|.
inline std::string check_param_grads(nn::Module& m, const std::function<ag::Var()>& loss, int per_param = 4,
                                     double eps = 1e-6) {
  m.zero_grad();
  loss().backward();
  Generator g(99);
  for (auto& [name, p] : m.named_parameters()) {
    Tensor grad = p.grad().defined() ? p.grad() : zeros_like(p.value());
    auto gv = grad.to_vector<double>();
    int64_t n = p.numel();
    for (int k = 0; k < per_param && k < n; ++k) {
      int64_t i = static_cast<int64_t>(rand({1}, DType::F64, Device::cpu(), &g).item() * n);
      Tensor orig = p.value();
      auto eval = [&](double d) {
        Tensor t = orig.clone();
        t.data<double>()[i] += d;
        ag::Var pv = p;
        pv.mutable_value() = t;
        ag::NoGradGuard ng;
        double l = loss().item();
        pv.mutable_value() = orig;
        return l;
      };
      double num = (eval(eps) - eval(-eps)) / (2 * eps);
      if (!(std::abs(num - gv[i]) <= 1e-5 + 1e-3 * std::abs(num)))
        return fmt::format("{}[{}]: analytic {:.10g} vs numeric {:.10g}", name, i, gv[i], num);
    }
  }
  return "";
}

}  // namespace fg::flows::testing
