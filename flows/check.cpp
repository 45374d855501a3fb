#include "flowgrad/flows/check.h"

#include "flowgrad/tensor/linalg.h"

namespace fg::flows {

RoundTrip round_trip(Flow& f, const Tensor& z0, const FlowArgs& args) {
  ag::NoGradGuard ng;
  Var z(z0), ldj(zeros({z0.size(0)}, z0.dtype(), z0.device()));
  f.forward(z, ldj, args);
  FG_CHECK(z.shape() == z0.shape(), "round_trip: forward changed the shape {} -> {}", shape_str(z0.shape()),
           shape_str(z.shape()));
  RoundTrip r;
  r.ldj_forward = ldj.value().to_vector<double>()[0];
  r.max_abs_out = amax(abs(z.value())).item();
  Var ldj2(zeros({z0.size(0)}, z0.dtype(), z0.device()));
  f.reverse(z, ldj2, args);
  r.max_err = max_abs_diff(z.value(), z0);
  r.ldj_reverse = ldj2.value().to_vector<double>()[0];
  return r;
}

double brute_force_logdet(const std::function<Var(const Var&)>& f, const Tensor& z) {
  FG_CHECK(z.dim() >= 1 && z.size(0) == 1, "brute_force_logdet: needs a single example [1, ...], got {}",
           shape_str(z.shape()));
  const int64_t d = z.numel();
  std::vector<double> jac;
  jac.reserve(d * d);
  for (int64_t i = 0; i < d; ++i) {
    Var x(z.clone(), true);
    Var y = f(x);
    FG_CHECK(y.numel() == d, "brute_force_logdet: output has {} elements, input {}", y.numel(), d);
    std::vector<double> onehot(d, 0.0);
    onehot[i] = 1.0;
    y.backward(from_vector(onehot, y.shape()).to(y.dtype()).to(y.device()));
    const std::vector<double> row = x.grad().to_vector<double>();
    jac.insert(jac.end(), row.begin(), row.end());
  }
  return slogdet(from_vector(jac, {d, d})).logabsdet;
}

double brute_force_logdet(Flow& f, const Tensor& x, const FlowArgs& args) {
  return brute_force_logdet(
      [&](const Var& v) {
        Var z = v, ldj(zeros({v.size(0)}, v.dtype(), v.device()));
        f.forward(z, ldj, args);
        return z;
      },
      x);
}

}  // namespace fg::flows
