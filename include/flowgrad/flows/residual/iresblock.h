// The residual block of invertible ResNets and Residual Flows: y = x + g(x) with Lip(g) < 1
// (g a LipschitzNet), following rtqichen/residual-flows (layers/iresblock.py).
//
// log det(I + J_g) = sum_{k >= 1} (-1)^{k+1} / k tr(J^k), each trace by Hutchinson's estimator
// v^T J^k v (v Gaussian, or Rademacher), the v^T J^k from k vector-Jacobian products:
//   Truncated  the first `terms` terms (i-ResNet: biased);
//   Geometric, Poisson  "Russian roulette" (unbiased): N drawn from the distribution, the first
//              exact_terms terms exact, term k > E weighted by 1 / P(N >= k - E), the series
//              stopped at N + E;
//   brute force  log|det(I + J)| from the whole Jacobian (small examples: 2-D flows, tests).
// In evaluation (no grad, or the module in eval mode) the roulette keeps eval_exact_terms = 20
// exact terms, as the reference.
//
// Training gradient (Chen et al. 2019, sec. 3.2): the series is accumulated without a graph into
// w = v + sum_k (-1)^k c_k (J^T)^k v, and the gradient of the log-det with respect to the
// parameters and to x comes from one differentiable product w^T J v, so memory does not grow with
// the terms. J v comes from the net's forward-mode derivative (LipschitzNet::forward_jvp): flowgrad's
// autograd has no double backward, so the gradient is always the Neumann series' and the value
// always the power series' (the same estimator the reference uses with --neumann-grad).
//
// Inverse: the fixed point x = y - g(x), from x = y - g(y), until every element moves by at most
// atol + rtol |y| (the reference compares squared steps with that), for at most max_iters
// iterations; not converging throws naming the block, never returns a wrong sample.
#pragma once
#include "flowgrad/flows/flow.h"
#include "flowgrad/flows/residual/lipschitz.h"

namespace fg::flows {

enum class Series { Truncated, Geometric, Poisson };
Series parse_series(const std::string& s);  // truncated, geometric, poisson; throws listing them
const char* series_name(Series s);

struct LogDetOptions {
  Series series = Series::Poisson;
  int terms = 5;                  // Truncated: terms of the series
  double geom_p = 0.5;            // Geometric: N ~ Geom(p) on {1, 2, ...}
  double lambda = 2.0;            // Poisson: N ~ Poisson(lambda) on {0, 1, ...}
  int exact_terms = 2;            // roulette: terms always computed, unweighted
  int eval_exact_terms = 20;      // the same in evaluation
  bool rademacher = false;        // Hutchinson's probe: N(0, 1) (the reference) or +-1
  bool brute_force = false;       // the exact log-det from the whole Jacobian
};

struct InverseOptions {
  double atol = 1e-5, rtol = 1e-5;
  int max_iters = 1000;
};

// P(N >= j) for the roulette's N (Geometric: param p; Poisson: param lambda).
double roulette_survival(Series s, double param, int j);
// The weights c_1..c_n of one draw of the series: n and the c_k as above; `evaluation` uses
// eval_exact_terms. Draws N from g (the default generator when null).
std::vector<double> series_coefficients(const LogDetOptions& o, bool evaluation, Generator* g = nullptr);

// The estimators for x [N, ...] and a probe v shaped like x, given the weights c (per example [N]):
// the power series' value, with the Neumann series' gradient in the parameters and in x; gx
// receives g(x) (differentiable).
Var logdet_estimate(LipschitzNet& net, const Var& x, const Tensor& v, const std::vector<double>& c, Var& gx);
// The value alone, no graph kept.
Tensor logdet_series(LipschitzNet& net, const Tensor& x, const Tensor& v, const std::vector<double>& c, Tensor& gx);
// log|det(I + J_g(x))| exactly, per example: from D vector-Jacobian products and LU (no gradient),
// or, differentiable, from D Jacobian-vector products (D = the elements of an example).
Tensor logdet_exact(LipschitzNet& net, const Tensor& x);
Var logdet_exact_var(LipschitzNet& net, const Var& x, Var& gx);

class ResidualBlock : public Flow {
 public:
  // label: how errors name the block (e.g. "block 3")
  ResidualBlock(std::shared_ptr<LipschitzNet> net, LogDetOptions logdet = {}, InverseOptions inverse = {},
                std::string label = "residual block");
  std::string type_name() const override { return "ResidualBlock"; }
  std::string extra_repr() const override;
  // z <- z + g(z); ldj += the log-det estimate (exact with brute_force)
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  // z <- the fixed point of x = z - g(x); ldj -= the log-det estimate at x (skipped when
  // !a.need_logdet). Not differentiated.
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  LipschitzNet& net() { return *net_; }
  LogDetOptions& logdet_options() { return logdet_; }
  InverseOptions& inverse_options() { return inverse_; }
  int last_inverse_iterations() const { return last_iters_; }

 private:
  Tensor probe(const Tensor& x) const;
  std::shared_ptr<LipschitzNet> net_;
  LogDetOptions logdet_;
  InverseOptions inverse_;
  std::string label_;
  int last_iters_ = 0;
};

}  // namespace fg::flows
