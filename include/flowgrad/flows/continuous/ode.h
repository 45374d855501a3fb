// ODE solvers for continuous flows: dy/dt = f(t, y) for a state y of one or more tensors (x, or
// x with a log-density accumulator). Fixed-step Euler, midpoint and classical RK4, and adaptive
// Dormand-Prince 5(4) with error control on atol + rtol * max(|y0|, |y1|) (RMS over each tensor,
// max over tensors, as torchdiffeq) and torchdiffeq's step-size rule (safety 0.9, growth at most
// 10x, shrink at most 5x, order 5). t1 < t0 integrates backward in time. Every solve reports its
// number of function evaluations (NFE). The field is called under whatever grad mode the caller
// set; the solver's own arithmetic records no graph.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "flowgrad/tensor/ops.h"

namespace fg::flows::ode {

using State = std::vector<Tensor>;
using Field = std::function<State(double t, const State& y)>;

enum class Method { Euler, Midpoint, RK4, Dopri5 };
Method parse_method(const std::string& s);  // euler, midpoint, rk4, dopri5; throws listing them
const char* method_name(Method m);

struct Options {
  Method method = Method::Dopri5;
  int64_t steps = 100;          // fixed-step methods: steps over [t0, t1]
  double atol = 1e-5, rtol = 1e-5;
  double first_step = 0;        // dopri5: 0 picks it (Hairer's rule)
  int first_step_order = 4;     // that rule's h1 = (0.01 / max(d1, d2))^(1 / (order + 1)): torchdiffeq
                                // passes 4 (dopri5's order - 1), torchdyn 5 (C2OT's solver)
  int64_t max_steps = 100000;   // dopri5: accepted + rejected steps before giving up
};

struct Result {
  State y;
  int64_t nfe = 0;       // calls of f
  int64_t steps = 0;     // accepted steps
  int64_t rejected = 0;  // dopri5's rejected steps
};

Result solve(const Field& f, const State& y0, double t0, double t1, const Options& o);

// A one-tensor convenience: the same solve for dx/dt = v(t, x).
Result solve(const std::function<Tensor(double t, const Tensor& x)>& v, const Tensor& x0, double t0, double t1,
             const Options& o);

}  // namespace fg::flows::ode
