// Spectral normalization, LipSwish and the Lipschitz nets of residual flows (see the header).
#include "flowgrad/flows/residual/lipschitz.h"

#include <cmath>

#include "flowgrad/nn/init.h"

namespace fg::flows {

namespace {

Tensor normalized(const Tensor& t) { return t / (sqrt(sum(square(t))) + 1e-12); }

// Power iteration until u and v each move less than tol + tol * max|.| per iteration (RMS), or
// max_iters. step(u, v) gives the next (u, v) before normalization.
template <class Step>
int power_iterate(Var& u, Var& v, const SpectralNormOptions& o, int max_iters, Step&& step) {
  ag::NoGradGuard ng;
  Tensor uu = u.value(), vv = v.value();
  int it = 0;
  while (it < max_iters) {
    ++it;
    auto [u_raw, v_raw] = step(uu, vv);
    Tensor un = normalized(u_raw), vn = normalized(v_raw);
    const double du = std::sqrt(sum(square(un - uu)).item() / static_cast<double>(un.numel()));
    const double dv = std::sqrt(sum(square(vn - vv)).item() / static_cast<double>(vn.numel()));
    const bool done = du < o.tol + o.tol * amax(abs(un)).item() && dv < o.tol + o.tol * amax(abs(vn)).item();
    uu = un;
    vv = vn;
    if (done) break;
  }
  u.mutable_value() = uu;
  v.mutable_value() = vv;
  return it;
}

// W / max(1, sigma / coeff), sigma differentiable in W
Var rescaled(const Var& w, const Var& sigma, double coeff) {
  Var factor = ag::maximum(sigma * (1.0 / coeff), Var(ones({}, w.dtype(), w.device())));
  return w / factor;
}

void check_options(const SpectralNormOptions& o, const char* who) {
  FG_CHECK(o.coeff > 0 && o.tol > 0 && o.max_iters >= 1, "{}: needs coeff > 0, tol > 0 and max_iters >= 1", who);
}

}  // namespace

// ---- SNLinear

SNLinear::SNLinear(int64_t in, int64_t out, const SpectralNormOptions& o) : o_(o) {
  check_options(o, "SNLinear");
  nn::Linear init(in, out);  // PyTorch's default initialization
  weight = register_parameter("weight", init.weight.value());
  bias = register_parameter("bias", init.bias.value());
  u = register_buffer("u", normalized(randn({out})));
  v = register_buffer("v", normalized(randn({in})));
  update(200);
}

std::string SNLinear::extra_repr() const {
  return fmt::format("{} -> {}, coeff {}", weight.size(1), weight.size(0), o_.coeff);
}

int SNLinear::update(int max_iters) {
  const Tensor w = weight.value();
  return power_iterate(u, v, o_, max_iters > 0 ? max_iters : o_.max_iters, [&](const Tensor&, const Tensor& vv) {
    Tensor un = normalized(matmul(w, vv.reshape({-1, 1})).reshape({-1}));
    return std::pair{un, matmul(w, un.reshape({-1, 1}), true).reshape({-1})};
  });
}

Var SNLinear::weight_eff() {
  Var sigma = ag::sum(Var(u.value()) * ag::reshape(ag::matmul(weight, ag::reshape(Var(v.value()), {-1, 1})), {-1}));
  return rescaled(weight, sigma, o_.coeff);
}

double SNLinear::sigma() {
  ag::NoGradGuard ng;
  return sum(u.value() * matmul(weight.value(), v.value().reshape({-1, 1})).reshape({-1})).item();
}

Var SNLinear::forward(const Var& x) { return ag::matmul(x, weight_eff(), false, true) + bias; }

std::pair<Var, Var> SNLinear::forward_jvp(const Var& x, const Var& dx) {
  Var w = weight_eff();
  return {ag::matmul(x, w, false, true) + bias, ag::matmul(dx, w, false, true)};
}

// ---- SNConv2d

SNConv2d::SNConv2d(int64_t in, int64_t out, int64_t k, int64_t h, int64_t w, const SpectralNormOptions& o)
    : in_(in), out_(out), k_(k), h_(h), w_(w), o_(o) {
  check_options(o, "SNConv2d");
  FG_CHECK(k >= 1 && k % 2 == 1 && h >= 1 && w >= 1, "SNConv2d: needs an odd kernel and a spatial size, got k={} {}x{}",
           k, h, w);
  nn::Conv2d init(in, out, k, k / 2);
  weight = register_parameter("weight", init.weight.value());
  bias = register_parameter("bias", init.bias.value());
  if (k == 1) {
    u = register_buffer("u", normalized(randn({out})));
    v = register_buffer("v", normalized(randn({in})));
  } else {
    u = register_buffer("u", normalized(randn({1, out, h, w})));
    v = register_buffer("v", normalized(randn({1, in, h, w})));
  }
  update(200);
}

std::string SNConv2d::extra_repr() const {
  return fmt::format("{} -> {}, {}x{} at {}x{}, coeff {}", in_, out_, k_, k_, h_, w_, o_.coeff);
}

int SNConv2d::update(int max_iters) {
  const int cap = max_iters > 0 ? max_iters : o_.max_iters;
  const Tensor w = weight.value();
  if (k_ == 1) {
    const Tensor m = w.reshape({out_, in_});
    return power_iterate(u, v, o_, cap, [&](const Tensor&, const Tensor& vv) {
      Tensor un = normalized(matmul(m, vv.reshape({-1, 1})).reshape({-1}));
      return std::pair{un, matmul(m, un.reshape({-1, 1}), true).reshape({-1})};
    });
  }
  ConvOptions co;
  co.padding = k_ / 2;
  return power_iterate(u, v, o_, cap, [&](const Tensor&, const Tensor& vv) {
    Tensor un = normalized(conv2d(vv, w, nullptr, co));
    return std::pair{un, conv_transpose2d(un, w, nullptr, co)};  // the adjoint (stride 1, padding k/2)
  });
}

Var SNConv2d::operator_sigma(const Var& w) {
  if (k_ == 1)
    return ag::sum(Var(u.value()) * ag::reshape(ag::matmul(ag::reshape(w, {out_, in_}),
                                                           ag::reshape(Var(v.value()), {-1, 1})), {-1}));
  ConvOptions co;
  co.padding = k_ / 2;
  return ag::sum(Var(u.value()) * ag::conv2d(Var(v.value()), w, nullptr, co));
}

Var SNConv2d::weight_eff() { return rescaled(weight, operator_sigma(weight), o_.coeff); }

double SNConv2d::sigma() {
  ag::NoGradGuard ng;
  return operator_sigma(weight).item();
}

Var SNConv2d::forward(const Var& x) {
  ConvOptions co;
  co.padding = k_ / 2;
  return ag::conv2d(x, weight_eff(), &bias, co);
}

std::pair<Var, Var> SNConv2d::forward_jvp(const Var& x, const Var& dx) {
  ConvOptions co;
  co.padding = k_ / 2;
  Var w = weight_eff();
  return {ag::conv2d(x, w, &bias, co), ag::conv2d(dx, w, nullptr, co)};
}

// ---- LipSwish

Var lipswish(const Var& x, const Var& beta) { return ag::lipswish(x, Var(), ag::softplus(beta))[0]; }

std::pair<Var, Var> lipswish_jvp(const Var& x, const Var& dx, const Var& beta) {
  auto r = ag::lipswish(x, dx, ag::softplus(beta));
  return {r[0], r[1]};
}

LipSwish::LipSwish() { beta = register_parameter("beta", full({1}, 0.5)); }

Var LipSwish::forward(const Var& x) { return lipswish(x, beta); }

std::pair<Var, Var> LipSwish::forward_jvp(const Var& x, const Var& dx) { return lipswish_jvp(x, dx, beta); }

// ---- LipschitzNet

void LipschitzNet::add_layer(Layer l, nn::ModulePtr m) {
  register_module(std::to_string(layers_.size()), std::move(m));
  layers_.push_back(std::move(l));
}

LipschitzNet& LipschitzNet::add(std::shared_ptr<SNConv2d> l) {
  add_layer({l, nullptr, nullptr}, l);
  return *this;
}
LipschitzNet& LipschitzNet::add(std::shared_ptr<SNLinear> l) {
  add_layer({nullptr, l, nullptr}, l);
  return *this;
}
LipschitzNet& LipschitzNet::add(std::shared_ptr<LipSwish> l) {
  add_layer({nullptr, nullptr, l}, l);
  return *this;
}

std::pair<Var, Var> LipschitzNet::forward_jvp(const Var& x, const Var& dx) {
  FG_CHECK(!layers_.empty(), "LipschitzNet: no layers");
  bool flat = false;
  for (const Layer& l : layers_)
    if (l.conv || l.linear) {
      flat = l.linear != nullptr && x.dim() > 2;
      break;
    }
  Var h = flat ? ag::reshape(x, {x.size(0), -1}) : x;
  Var dh = dx.defined() ? (flat ? ag::reshape(dx, {x.size(0), -1}) : dx) : Var();
  for (const Layer& l : layers_) {
    if (!dh.defined()) {
      h = l.conv ? l.conv->forward(h) : l.linear ? l.linear->forward(h) : l.act->forward(h);
      continue;
    }
    auto [y, dy] = l.conv ? l.conv->forward_jvp(h, dh) : l.linear ? l.linear->forward_jvp(h, dh) : l.act->forward_jvp(h, dh);
    h = y;
    dh = dy;
  }
  if (flat) {
    h = ag::reshape(h, x.shape());
    if (dh.defined()) dh = ag::reshape(dh, x.shape());
  }
  return {h, dh};
}

Var LipschitzNet::forward(const Var& x) { return forward_jvp(x, Var()).first; }

// ---- builders

std::shared_ptr<LipschitzNet> lipschitz_conv_net(int64_t c, int64_t hidden, int64_t h, int64_t w, bool preact,
                                                 const SpectralNormOptions& o) {
  auto net = std::make_shared<LipschitzNet>();
  if (preact) net->add(std::make_shared<LipSwish>());
  net->add(std::make_shared<SNConv2d>(c, hidden, 3, h, w, o));
  net->add(std::make_shared<LipSwish>());
  net->add(std::make_shared<SNConv2d>(hidden, hidden, 1, h, w, o));
  net->add(std::make_shared<LipSwish>());
  net->add(std::make_shared<SNConv2d>(hidden, c, 3, h, w, o));
  return net;
}

std::shared_ptr<LipschitzNet> lipschitz_mlp(int64_t d, int64_t hidden, int hidden_layers, bool preact,
                                            const SpectralNormOptions& o, bool small_last) {
  FG_CHECK(hidden_layers >= 1, "lipschitz_mlp: needs at least one hidden layer, got {}", hidden_layers);
  auto net = std::make_shared<LipschitzNet>();
  int64_t in = d;
  for (int i = 0; i < hidden_layers; ++i) {
    if (preact || i > 0) net->add(std::make_shared<LipSwish>());
    net->add(std::make_shared<SNLinear>(in, hidden, o));
    in = hidden;
  }
  net->add(std::make_shared<LipSwish>());
  auto last = std::make_shared<SNLinear>(in, d, o);
  if (small_last) {
    ag::NoGradGuard ng;
    last->weight.mutable_value() = last->weight.value() * 1e-3;
    last->update(200);
  }
  net->add(last);
  return net;
}

}  // namespace fg::flows
