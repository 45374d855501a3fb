// Likelihoods of continuous normalizing flows (the instantaneous change of variables,
// d log p(x_t)/dt = -div v(x_t, t)): from data x1 at t = 1 the ODE runs backward to x0 at t = 0
// with the divergence accumulated alongside, and
//   log p1(x1) = log p0(x0) - integral_0^1 div v(x_t, t) dt.
// The divergence is exact (one vector-Jacobian product per dimension: for 2-D) or Hutchinson's
// estimate eps^T (dv/dx) eps with one fixed probe per solve (FFJORD), Rademacher or Gaussian.
// The products go through ag::grad, which leaves every parameter gradient alone.
// The solver's error control sees the log-density per dimension: its accumulator integrates
// div v / D (D the dims per example), which leaves rtol's meaning alone and makes its atol D times
// looser in nats, the same atol in bits per dimension; CnfOptions::per_dim_error = false holds
// the D-dimensional sum itself to atol in nats, as torchdiffeq's FFJORD does.
#pragma once
#include <functional>

#include "flowgrad/flows/continuous/ode.h"
#include "flowgrad/flows/continuous/velocity.h"

namespace fg::flows {

// div_x v(x, t) per example [N] (x [N, D]): D vector-Jacobian products.
Tensor divergence_exact(VelocityField& v, const Tensor& x, double t);
// eps^T (dv/dx) eps per example [N]; eps shaped as x.
Tensor divergence_hutchinson(VelocityField& v, const Tensor& x, double t, const Tensor& eps);

struct CnfOptions {
  ode::Options solver;
  bool exact = true;           // false: Hutchinson
  bool rademacher = true;      // Hutchinson's probe: +-1 (else N(0, 1))
  Generator* probe_gen = nullptr;
  bool per_dim_error = true;   // false: the log-density's error in nats per example
};

struct CnfResult {
  Tensor log_prob;  // [N], log p1(x1) in nats, f64
  Tensor x0;        // the latent the ODE reached at t = 0
  int64_t nfe = 0;
};

// log N(x; 0, I) summed over each example's dims, [N] f64
Tensor std_normal_log_density(const Tensor& x);

CnfResult cnf_log_prob(VelocityField& v, const Tensor& x1, const CnfOptions& o,
                       const std::function<Tensor(const Tensor&)>& base_log_prob = std_normal_log_density);

// Samples: x0 (source draws) integrated forward from t = 0 to 1.
ode::Result cnf_sample(VelocityField& v, const Tensor& x0, const ode::Options& o);

}  // namespace fg::flows
