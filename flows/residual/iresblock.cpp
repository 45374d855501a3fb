// The residual block and its log-det estimators (see the header).
#include "flowgrad/flows/residual/iresblock.h"

#include <cmath>

#include "flowgrad/tensor/linalg.h"

namespace fg::flows {

namespace {

Tensor per_example_sum(const Tensor& t) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < t.dim(); ++d) dims.push_back(d);
  return sum(t, dims);
}

// elements of one example
int64_t example_size(const Shape& s) { return numel(s) / s[0]; }

// the basis vectors e_d of every example, [N, ...] shaped as x
Tensor basis(const Tensor& x, int64_t d) {
  const int64_t n = x.size(0), D = example_size(x.shape());
  std::vector<double> e(static_cast<size_t>(n * D), 0.0);
  for (int64_t i = 0; i < n; ++i) e[static_cast<size_t>(i * D + d)] = 1.0;
  return from_vector(e, x.shape()).to(x.dtype()).to(x.device());
}

}  // namespace

Series parse_series(const std::string& s) {
  if (s == "truncated") return Series::Truncated;
  if (s == "geometric") return Series::Geometric;
  if (s == "poisson") return Series::Poisson;
  fail(fmt::format("unknown log-det series '{}': expected truncated, geometric or poisson", s));
}

const char* series_name(Series s) {
  return s == Series::Truncated ? "truncated" : s == Series::Geometric ? "geometric" : "poisson";
}

double roulette_survival(Series s, double param, int j) {
  if (j <= 0) return 1.0;
  if (s == Series::Geometric) return std::pow(1.0 - param, j - 1);  // N on {1, 2, ...}
  FG_CHECK(s == Series::Poisson, "roulette_survival: the truncated series has no roulette");
  double cdf = 0, term = std::exp(-param);  // P(N < j) = sum_{i < j} e^-l l^i / i!
  for (int i = 0; i < j; ++i) {
    cdf += term;
    term *= param / (i + 1);
  }
  return std::max(0.0, 1.0 - cdf);
}

std::vector<double> series_coefficients(const LogDetOptions& o, bool evaluation, Generator* g) {
  if (o.series == Series::Truncated) {
    FG_CHECK(o.terms >= 1, "log-det series: needs at least one term, got {}", o.terms);
    return std::vector<double>(static_cast<size_t>(o.terms), 1.0);
  }
  const double param = o.series == Series::Geometric ? o.geom_p : o.lambda;
  FG_CHECK(o.series == Series::Geometric ? param > 0 && param <= 1 : param > 0,
           "log-det series: bad {} parameter {}", series_name(o.series), param);
  // N by inversion of one uniform draw: the smallest n with P(N <= n) >= u
  WholeDraw whole;  // one length for the whole batch, on every rank of a data-parallel job
  const double u = rand({1}, DType::F64, Device::cpu(), g).item();
  int n = o.series == Series::Geometric ? 1 : 0;
  while (n < 10000 && 1.0 - roulette_survival(o.series, param, n + 1) < u) ++n;
  const int exact = evaluation ? o.eval_exact_terms : o.exact_terms;
  std::vector<double> c(static_cast<size_t>(n + exact));
  for (int k = 1; k <= n + exact; ++k) c[static_cast<size_t>(k - 1)] = 1.0 / roulette_survival(o.series, param, k - exact);
  return c;
}

Var logdet_estimate(LipschitzNet& net, const Var& x, const Tensor& v, const std::vector<double>& c, Var& gx) {
  FG_CHECK(v.shape() == x.shape(), "logdet_estimate: the probe {} must be shaped as x {}", shape_str(v.shape()),
           shape_str(x.shape()));
  ag::GradModeGuard on(true);
  // the products below need x in the graph: a leaf copy when x has no graph of its own (data)
  const Var xs = x.requires_grad() ? x : Var(x.value(), true);
  auto [g, jv] = net.forward_jvp(xs, Var(v));
  gx = g;
  Tensor vec = v, w = v, value = zeros({x.size(0)}, DType::F64, x.device());
  for (size_t k = 1; k <= c.size(); ++k) {
    vec = ag::grad({g}, {xs}, {vec}, /*retain_graph=*/true)[0];  // (J^T)^k v, no graph
    const double ck = c[k - 1], sign = k % 2 == 1 ? 1.0 : -1.0;
    value = value + per_example_sum(vec * v).to(DType::F64) * (sign * ck / static_cast<double>(k));
    w = w + vec * (-sign * ck);
  }
  // the Neumann surrogate s = w^T J v: its gradient is the series' gradient; its value replaced
  Var s = sum_except_batch(Var(w) * jv);
  return s + Var(value.to(s.dtype()) - s.value());
}

Tensor logdet_series(LipschitzNet& net, const Tensor& x, const Tensor& v, const std::vector<double>& c, Tensor& gx) {
  ag::GradModeGuard on(true);
  Var xs(x, true);
  Var g = net.forward(xs);
  gx = g.value();
  Tensor vec = v, value = zeros({x.size(0)}, DType::F64, x.device());
  for (size_t k = 1; k <= c.size(); ++k) {
    vec = ag::grad({g}, {xs}, {vec}, /*retain_graph=*/k < c.size())[0];
    const double sign = k % 2 == 1 ? 1.0 : -1.0;
    value = value + per_example_sum(vec * v).to(DType::F64) * (sign * c[k - 1] / static_cast<double>(k));
  }
  return value;
}

Tensor logdet_exact(LipschitzNet& net, const Tensor& x) {
  ag::GradModeGuard on(true);
  const int64_t n = x.size(0), D = example_size(x.shape());
  Var xs(x, true);
  Var g = net.forward(xs);
  std::vector<std::vector<double>> rows;  // rows[d][i * D + j] = J_i[d][j]
  for (int64_t d = 0; d < D; ++d)
    rows.push_back(ag::grad({g}, {xs}, {basis(x, d)}, /*retain_graph=*/d + 1 < D)[0].to_vector<double>());
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> m(static_cast<size_t>(D * D));
    for (int64_t r = 0; r < D; ++r)
      for (int64_t col = 0; col < D; ++col)
        m[static_cast<size_t>(r * D + col)] = rows[static_cast<size_t>(r)][static_cast<size_t>(i * D + col)] + (r == col);
    out[static_cast<size_t>(i)] = slogdet(from_vector(m, {D, D})).logabsdet;
  }
  return from_vector(out, {n}).to(x.device());
}

Var logdet_exact_var(LipschitzNet& net, const Var& x, Var& gx) {
  const int64_t n = x.size(0), D = example_size(x.shape());
  std::vector<Var> cols;  // cols[d] = J e_d, [N, D]
  for (int64_t d = 0; d < D; ++d) {
    auto [g, jcol] = net.forward_jvp(x, Var(basis(x.value(), d)));
    if (d == 0) gx = g;
    cols.push_back(ag::reshape(jcol, {n, D}));
  }
  auto entry = [&](int64_t r, int64_t c) { return ag::slice(cols[static_cast<size_t>(c)], 1, r, r + 1); };  // [N, 1]
  if (D == 2) {
    Var det = (entry(0, 0) + 1.0) * (entry(1, 1) + 1.0) - entry(0, 1) * entry(1, 0);
    return ag::reshape(ag::log(ag::abs(det)), {n});
  }
  // I + J per example: [D, D] from the columns, then log|det| by LU
  std::vector<Var> per;
  Var eye(zeros({D, D}, x.dtype(), x.device()));
  {
    std::vector<double> id(static_cast<size_t>(D * D), 0.0);
    for (int64_t i = 0; i < D; ++i) id[static_cast<size_t>(i * D + i)] = 1.0;
    eye = Var(from_vector(id, {D, D}).to(x.dtype()).to(x.device()));
  }
  for (int64_t i = 0; i < n; ++i) {
    std::vector<Var> c;
    for (int64_t d = 0; d < D; ++d) c.push_back(ag::reshape(ag::slice(cols[static_cast<size_t>(d)], 0, i, i + 1), {D, 1}));
    per.push_back(ag::reshape(ag::slogdet(ag::concat(c, 1) + eye), {1}));
  }
  return ag::concat(per, 0);
}

// ---- the block

ResidualBlock::ResidualBlock(std::shared_ptr<LipschitzNet> net, LogDetOptions logdet, InverseOptions inverse,
                             std::string label)
    : net_(std::move(net)), logdet_(logdet), inverse_(inverse), label_(std::move(label)) {
  FG_CHECK(net_, "ResidualBlock: needs a residual net");
  FG_CHECK(inverse_.max_iters >= 1 && inverse_.atol >= 0 && inverse_.rtol >= 0, "ResidualBlock: bad inverse options");
  register_module("nnet", net_);
}

std::string ResidualBlock::extra_repr() const {
  return logdet_.brute_force ? std::string("exact log-det")
                             : fmt::format("{} series", series_name(logdet_.series));
}

Tensor ResidualBlock::probe(const Tensor& x) const {
  if (!logdet_.rademacher) return randn(x.shape(), x.dtype(), x.device());
  return where(lt(rand(x.shape(), x.dtype(), x.device()), full_like(x, 0.5)), full_like(x, -1.0), full_like(x, 1.0));
}

void ResidualBlock::forward(Var& z, Var& ldj, const FlowArgs&) {
  const bool grads = ag::grad_enabled(), evaluation = !is_training();
  if (logdet_.brute_force) {
    if (grads) {
      Var gx;
      Var ld = logdet_exact_var(*net_, z, gx);
      z = z + gx;
      ldj = ldj + ld;
    } else {
      Tensor ld = logdet_exact(*net_, z.value());
      z = Var(z.value() + net_->forward(z).value());
      ldj = Var(ldj.value() + ld.to(ldj.dtype()));
    }
    return;
  }
  const std::vector<double> c = series_coefficients(logdet_, evaluation);
  const Tensor v = probe(z.value());
  if (grads) {
    Var gx;
    Var ld = logdet_estimate(*net_, z, v, c, gx);
    z = z + gx;
    ldj = ldj + ld;
  } else {
    Tensor gx;
    Tensor ld = logdet_series(*net_, z.value(), v, c, gx);
    z = Var(z.value() + gx);
    ldj = Var(ldj.value() + ld.to(ldj.dtype()));
  }
}

void ResidualBlock::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  ag::NoGradGuard ng;
  const Tensor y = z.value();
  auto g = [&](const Tensor& t) { return net_->forward(Var(t)).value(); };
  const Tensor tol = abs(y) * inverse_.rtol + inverse_.atol;
  Tensor x = y - g(y);
  last_iters_ = 0;
  double worst = INFINITY;
  while (true) {
    ++last_iters_;
    Tensor next = y - g(x);
    worst = amax(abs(next - x) - tol).item();
    x = next;
    if (worst <= 0) break;
    FG_CHECK(last_iters_ < inverse_.max_iters && std::isfinite(worst),
             "{}: the fixed-point inverse did not converge in {} iterations (a step still exceeds the tolerance "
             "atol {} + rtol {} |y| by {:.3g}); Lip(g) < 1 makes it converge: check the spectral normalization",
             label_, inverse_.max_iters, inverse_.atol, inverse_.rtol, worst);
  }
  if (a.need_logdet) {
    Tensor ld;
    if (logdet_.brute_force) {
      ld = logdet_exact(*net_, x);
    } else {
      Tensor gx;
      ld = logdet_series(*net_, x, probe(x), series_coefficients(logdet_, true), gx);
    }
    ldj = Var(ldj.value() - ld.to(ldj.dtype()));
  }
  z = Var(x);
}

}  // namespace fg::flows
