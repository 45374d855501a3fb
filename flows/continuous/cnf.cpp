#include "flowgrad/flows/continuous/cnf.h"

#include <cmath>

namespace fg::flows {

namespace {

std::vector<int64_t> dims_after_batch(const Tensor& x) {
  std::vector<int64_t> d;
  for (int64_t i = 1; i < x.dim(); ++i) d.push_back(i);
  return d;
}

// D: the dims of one example of a batch x [N, ...]
int64_t dims_per_example(const Tensor& x) { return x.numel() / std::max<int64_t>(1, x.size(0)); }

struct VelDiv {
  Tensor velocity, divergence;
};

// v(x, t) and its divergence: exact (eps undefined; x [N, D]) or Hutchinson's with probe eps.
VelDiv velocity_and_divergence(VelocityField& v, const Tensor& x, double t, const Tensor& eps) {
  ag::GradModeGuard on(true);
  Var xv(x, true);
  Var out = v(xv, Var(scalar(t, x.dtype(), x.device())));
  VelDiv r{out.value(), Tensor()};
  if (eps.defined()) {
    Tensor g = ag::grad({out}, {xv}, {eps})[0];
    r.divergence = sum(g * eps, dims_after_batch(x));
    return r;
  }
  FG_CHECK(x.dim() == 2, "divergence: the exact divergence needs x [N, D], got {}", shape_str(x.shape()));
  const int64_t n = x.size(0), d = x.size(1);
  r.divergence = zeros({n}, x.dtype(), x.device());
  for (int64_t i = 0; i < d; ++i) {
    Tensor e = zeros_like(x);
    Tensor col = slice(e, 1, i, i + 1);
    copy_into(ones({n, 1}, x.dtype(), x.device()), col);
    Tensor g = ag::grad({out}, {xv}, {e}, /*retain_graph=*/i + 1 < d)[0];
    r.divergence = r.divergence + slice(g, 1, i, i + 1).reshape({n});
  }
  return r;
}

}  // namespace

Tensor divergence_exact(VelocityField& v, const Tensor& x, double t) {
  return velocity_and_divergence(v, x, t, Tensor()).divergence;
}

Tensor divergence_hutchinson(VelocityField& v, const Tensor& x, double t, const Tensor& eps) {
  FG_CHECK(eps.defined() && eps.shape() == x.shape(), "divergence_hutchinson: the probe must be shaped as x {}",
           shape_str(x.shape()));
  return velocity_and_divergence(v, x, t, eps).divergence;
}

Tensor std_normal_log_density(const Tensor& x) {
  const double d = static_cast<double>(dims_per_example(x));
  Tensor xd = x.to(DType::F64);
  return sum(square(xd), dims_after_batch(xd)) * -0.5 - 0.5 * d * std::log(2 * M_PI);
}

CnfResult cnf_log_prob(VelocityField& v, const Tensor& x1, const CnfOptions& o,
                       const std::function<Tensor(const Tensor&)>& base_log_prob) {
  Tensor eps;
  if (!o.exact)
    eps = o.rademacher ? sign(rand(x1.shape(), x1.dtype(), x1.device(), o.probe_gen) - 0.5)
                       : randn(x1.shape(), x1.dtype(), x1.device(), o.probe_gen);
  // state (x, a): dx/dt = v, da/dt = div v / s, a(1) = 0, so s a(0) = -integral_0^1 div v dt
  // (s = D: the error control sees the log-density per dimension; s = 1: in nats)
  const double s = o.per_dim_error ? static_cast<double>(std::max<int64_t>(1, dims_per_example(x1))) : 1.0;
  ode::Field f = [&](double t, const ode::State& y) {
    VelDiv r = velocity_and_divergence(v, y[0], t, eps);
    return ode::State{r.velocity, r.divergence.to(DType::F64) * (1.0 / s)};
  };
  ode::Result r = ode::solve(f, {x1, zeros({x1.size(0)}, DType::F64, x1.device())}, 1.0, 0.0, o.solver);
  CnfResult out;
  out.x0 = r.y[0];
  out.log_prob = base_log_prob(r.y[0]).to(DType::F64) + r.y[1] * s;
  out.nfe = r.nfe;
  return out;
}

ode::Result cnf_sample(VelocityField& v, const Tensor& x0, const ode::Options& o) {
  ag::NoGradGuard ng;
  return ode::solve([&](double t, const Tensor& x) { return v(Var(x), Var(scalar(t, x.dtype(), x.device()))).value(); },
                    x0, 0.0, 1.0, o);
}

}  // namespace fg::flows
