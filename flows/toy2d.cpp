#include "flowgrad/flows/toy2d.h"

#include "flowgrad/nn/init.h"
#include "flowgrad/nn/layers.h"

namespace fg::flows {

namespace {

void check_2d(const Var& z, const char* who) {
  FG_CHECK(z.dim() == 2 && z.size(1) == 2, "{}: expected z of shape [N, 2], got {}", who, shape_str(z.shape()));
}

// [N, 1] columns -> [N, 2] in coordinate order
Var join(const Var& kept, const Var& moved, int64_t transformed) {
  return transformed == 1 ? ag::concat({kept, moved}, 1) : ag::concat({moved, kept}, 1);
}

}  // namespace

Var flow_log_prob(Flow& f, const Var& x) {
  Var z = x, ldj(zeros({x.size(0)}, x.dtype(), x.device()));
  f.forward(z, ldj);
  return sum_except_batch(std_normal_log_prob(z)) + ldj;
}

// ---- LinearFlow2D ----

LinearFlow2D::LinearFlow2D(Tensor a, Tensor bias) {
  FG_CHECK(a.shape() == Shape({2, 2}) && bias.shape() == Shape({2}), "LinearFlow2D: A must be [2, 2] and b [2], got {} and {}",
           shape_str(a.shape()), shape_str(bias.shape()));
  A = register_parameter("A", std::move(a));
  b = register_parameter("b", std::move(bias));
}

void LinearFlow2D::forward(Var& z, Var& ldj, const FlowArgs&) {
  check_2d(z, "LinearFlow2D");
  z = ag::matmul(z, A, false, true) + b;  // each row: A x + b
  ldj = ldj + ag::slogdet(A);
}

void LinearFlow2D::reverse(Var& z, Var& ldj, const FlowArgs&) {
  check_2d(z, "LinearFlow2D");
  z = ag::matmul(z - b, ag::inverse(A), false, true);  // each row: A^{-1} (z - b)
  ldj = ldj - ag::slogdet(A);
}

// ---- AffineCoupling2D ----

AffineCoupling2D::AffineCoupling2D(ScaleShift scale_shift, int64_t transformed)
    : fn_(std::move(scale_shift)), transformed_(transformed) {
  FG_CHECK(transformed == 0 || transformed == 1, "AffineCoupling2D: transformed must be 0 or 1, got {}", transformed);
  FG_CHECK(static_cast<bool>(fn_), "AffineCoupling2D: empty scale/shift function");
}

AffineCoupling2D::AffineCoupling2D(nn::ModulePtr network, int64_t transformed)
    : network_(std::move(network)), transformed_(transformed) {
  FG_CHECK(transformed == 0 || transformed == 1, "AffineCoupling2D: transformed must be 0 or 1, got {}", transformed);
  FG_CHECK(network_ != nullptr, "AffineCoupling2D: null network");
  register_module("network", network_);
  scaling_factor_ = register_parameter("scaling_factor", zeros({1}));
}

std::pair<Var, Var> AffineCoupling2D::scale_shift(const Var& x_c) {
  if (fn_) {
    auto st = fn_(x_c);
    FG_CHECK(st.first.shape() == x_c.shape() && st.second.shape() == x_c.shape(),
             "AffineCoupling2D: s and t must be [N, 1] like the input, got {} and {}", shape_str(st.first.shape()),
             shape_str(st.second.shape()));
    return st;
  }
  Var out = (*network_)(x_c);
  FG_CHECK(out.dim() == 2 && out.size(1) == 2, "AffineCoupling2D: network output must be [N, 2], got {}",
           shape_str(out.shape()));
  auto st = ag::chunk(out, 2, 1);
  Var f = ag::exp(scaling_factor_);
  return {ag::tanh(st[0] / f) * f, st[1]};
}

void AffineCoupling2D::forward(Var& z, Var& ldj, const FlowArgs&) {
  check_2d(z, "AffineCoupling2D");
  Var x_c = ag::slice(z, 1, 1 - transformed_, 2 - transformed_);
  Var x_k = ag::slice(z, 1, transformed_, transformed_ + 1);
  auto [s, t] = scale_shift(x_c);
  z = join(x_c, x_k * ag::exp(s) + t, transformed_);
  ldj = ldj + ag::reshape(s, {-1});
}

void AffineCoupling2D::reverse(Var& z, Var& ldj, const FlowArgs&) {
  check_2d(z, "AffineCoupling2D");
  Var z_c = ag::slice(z, 1, 1 - transformed_, 2 - transformed_);
  Var z_k = ag::slice(z, 1, transformed_, transformed_ + 1);
  auto [s, t] = scale_shift(z_c);
  z = join(z_c, (z_k - t) * ag::exp(-s), transformed_);
  ldj = ldj - ag::reshape(s, {-1});
}

// ---- RealNVP2D ----

nn::ModulePtr coupling_mlp_2d(int64_t hidden) {
  FG_CHECK(hidden > 0, "coupling_mlp_2d: hidden must be positive, got {}", hidden);
  auto last = std::make_shared<nn::Linear>(hidden, 2);
  nn::zeros_(last->weight);
  nn::zeros_(last->bias);
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Linear>(1, hidden), nn::relu(), std::make_shared<nn::Linear>(hidden, hidden), nn::relu(),
      last});
}

RealNVP2D::RealNVP2D(int64_t layers, int64_t hidden) : DensityFlow(2) {
  FG_CHECK(layers > 0, "RealNVP2D: layers must be positive, got {}", layers);
  for (int64_t i = 0; i < layers; ++i) {
    auto c = std::make_shared<AffineCoupling2D>(coupling_mlp_2d(hidden), 1 - i % 2);
    register_module(fmt::format("couplings.{}", i), c);
    couplings_.push_back(c);
  }
}

void RealNVP2D::forward(Var& z, Var& ldj, const FlowArgs& a) {
  for (auto& c : couplings_) c->forward(z, ldj, a);
}

void RealNVP2D::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  for (auto it = couplings_.rbegin(); it != couplings_.rend(); ++it) (*it)->reverse(z, ldj, a);
}

Var DensityFlow::nll(const Var& x) { return -ag::mean(log_prob(x)); }

DType DensityFlow::dtype() const { return parameters().front().dtype(); }

Tensor DensityFlow::sample(int64_t n, Generator* g) {
  ag::NoGradGuard ng;
  const Device dev = parameters().front().device();
  // drawn on the host: the same points on every device
  Var z(randn({n, dim_}, dtype(), Device::cpu(), g).to(dev)), ldj(zeros({n}, dtype(), dev));
  FlowArgs a;
  a.need_logdet = false;
  reverse(z, ldj, a);
  return z.value();
}

double DensityFlow::mean_nll(const Tensor& x, int64_t batch) {
  FG_CHECK(x.dim() == 2 && x.size(1) == dim_ && x.size(0) > 0, "{}::mean_nll: expected [N, {}], got {}", type_name(),
           dim_, shape_str(x.shape()));
  ag::NoGradGuard ng;
  const int64_t n = x.size(0);
  double total = 0;
  for (int64_t i = 0; i < n; i += batch) {
    Tensor xb = slice(x, 0, i, std::min(n, i + batch)).to(dtype()).to(parameters().front().device());
    total += sum(log_prob(Var(xb)).value().to(DType::F64)).item();
  }
  return -total / static_cast<double>(n);
}

}  // namespace fg::flows
