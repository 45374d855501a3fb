#include "flowgrad/autograd/gradcheck.h"

#include <cmath>
#include <random>

#include "flowgrad/autograd/functional.h"

namespace fg::ag {

namespace {

Device g_default_device = Device::cpu();

double projected(const VarFn& f, const std::vector<Tensor>& xs, const Tensor& r, Device d) {
  NoGradGuard ng;
  std::vector<Var> vs;
  for (auto& x : xs) vs.emplace_back(x.to(d));
  return fg::sum(f(vs).value() * r.to(d)).item();
}

// Runs forward+backward with the given upstream; returns each input's gradient (undefined if none).
std::vector<Tensor> analytic(const VarFn& f, const std::vector<Tensor>& xs, const Tensor* upstream,
                             const std::vector<bool>& req, Device d) {
  std::vector<Var> vs;
  for (size_t i = 0; i < xs.size(); ++i) vs.emplace_back(xs[i].clone().to(d), req[i]);
  Var y = f(vs);
  FG_CHECK(y.requires_grad(), "gradcheck: the function's output does not depend on any input");
  FG_CHECK(y.value().device() == d, "gradcheck: the function's output is on {}, expected {}", y.value().device().str(),
           d.str());
  y.backward(upstream ? upstream->to(d) : Tensor());
  std::vector<Tensor> g;
  for (auto& v : vs) g.push_back(v.grad().defined() ? v.grad().to(Device::cpu()) : Tensor());
  return g;
}

}  // namespace

Device default_gradcheck_device() { return g_default_device; }
void set_default_gradcheck_device(Device d) { g_default_device = d; }

GradcheckResult gradcheck(const VarFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  GradcheckResult res;
  for (auto& x : inputs)
    FG_CHECK(x.dtype() == DType::F64 && x.device().is_cpu(), "gradcheck: inputs must be f64 on the cpu, got {} {}",
             dtype_name(x.dtype()), x.device().str());
  Shape out_shape;
  {
    NoGradGuard ng;
    std::vector<Var> vs;
    for (auto& x : inputs) vs.emplace_back(x.to(o.device));
    out_shape = f(vs).shape();
  }
  Generator gen(o.seed);
  Tensor r = randn(out_shape, DType::F64, Device::cpu(), &gen);
  std::vector<bool> all(inputs.size(), true);
  std::vector<Tensor> ga = analytic(f, inputs, &r, all, o.device);

  auto fail = [&](std::string m) {
    if (res.ok) res.message = std::move(m);
    res.ok = false;
  };
  std::mt19937_64 rng(o.seed);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x0 = inputs[k];
    int64_t n = x0.numel();
    if (!ga[k].defined()) {
      fail(fmt::format("input {}: no gradient was produced", k));
      continue;
    }
    if (ga[k].shape() != x0.shape()) {
      fail(fmt::format("input {}: gradient shape {} differs from input shape {}", k, shape_str(ga[k].shape()),
                       shape_str(x0.shape())));
      continue;
    }
    std::vector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i) idx[i] = i;
    if (n > o.max_elements) {
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(o.max_elements);
    }
    auto gv = ga[k].to_vector<double>();
    for (int64_t i : idx) {
      std::vector<Tensor> xs = inputs;
      Tensor xp = x0.clone(), xm = x0.clone();
      xp.data<double>()[i] += o.eps;
      xm.data<double>()[i] -= o.eps;
      xs[k] = xp;
      double lp = projected(f, xs, r, o.device);
      xs[k] = xm;
      double lm = projected(f, xs, r, o.device);
      double num = (lp - lm) / (2 * o.eps);
      double err = std::abs(gv[i] - num);
      res.max_abs_error = std::max(res.max_abs_error, err);
      ++res.checked;
      if (!(err <= o.atol + o.rtol * std::abs(num)))
        fail(fmt::format("input {} {} element {}: analytic {:.10g} vs numeric {:.10g} (|diff| {:.3g})", k,
                         shape_str(x0.shape()), i, gv[i], num, err));
    }
  }
  // zero upstream -> zero gradients
  Tensor z = zeros(out_shape, DType::F64);
  auto gz = analytic(f, inputs, &z, all, o.device);
  for (size_t k = 0; k < gz.size(); ++k)
    if (gz[k].defined() && fg::amax(fg::abs(gz[k])).item() != 0.0)
      fail(fmt::format("input {}: a zero upstream gradient gave a non-zero gradient", k));
  // repeat -> identical
  auto g2 = analytic(f, inputs, &r, all, o.device);
  for (size_t k = 0; k < g2.size(); ++k)
    if (ga[k].defined() && (!g2[k].defined() || max_abs_diff(ga[k], g2[k]) != 0.0))
      fail(fmt::format("input {}: a second forward+backward gave a different gradient", k));
  // an input without requires_grad gets no gradient, the others are unchanged
  for (size_t skip = 0; skip < inputs.size() && inputs.size() > 1; ++skip) {
    std::vector<bool> req = all;
    req[skip] = false;
    auto gs = analytic(f, inputs, &r, req, o.device);
    if (gs[skip].defined()) fail(fmt::format("input {}: got a gradient without requires_grad", skip));
    for (size_t k = 0; k < gs.size(); ++k)
      if (k != skip && ga[k].defined() && (!gs[k].defined() || max_abs_diff(ga[k], gs[k]) > 1e-12))
        fail(fmt::format("input {}: gradient changed when input {} stopped requiring grad", k, skip));
  }
  return res;
}

}  // namespace fg::ag
