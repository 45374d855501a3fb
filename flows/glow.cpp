#include "flowgrad/flows/glow.h"

#include <cmath>

#include "flowgrad/dist/shard.h"
#include "flowgrad/nn/init.h"
#include "flowgrad/tensor/linalg.h"

namespace fg::flows {

// ---------------------------------------------------------------------------------- helpers

Var conv1x1(const Var& x, const Var& w) {
  const Shape& s = x.shape();
  FG_CHECK(s.size() == 4 && w.dim() == 2 && w.size(0) == s[1] && w.size(1) == s[1],
           "conv1x1: needs x [N, C, H, W] and W [C, C]; got {} and {}", shape_str(s), shape_str(w.shape()));
  // [C, C] @ [N, C, HW]: the weight broadcasts over the batch; NCHW needs no permute.
  Var y = ag::matmul(w, ag::reshape(x, {s[0], s[1], s[2] * s[3]}));
  return ag::reshape(y, s);
}

Tensor random_orthogonal(int64_t c, Generator* g) {
  auto a = randn({c, c}, DType::F64, Device::cpu(), g).to_vector<double>();
  // modified Gram-Schmidt on the columns of a (row-major), in double
  std::vector<double> q(c * c, 0.0);
  for (int64_t j = 0; j < c; ++j) {
    std::vector<double> v(c);
    for (int64_t i = 0; i < c; ++i) v[i] = a[i * c + j];
    for (int64_t k = 0; k < j; ++k) {
      double dot = 0;
      for (int64_t i = 0; i < c; ++i) dot += q[i * c + k] * v[i];
      for (int64_t i = 0; i < c; ++i) v[i] -= dot * q[i * c + k];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    FG_CHECK(norm > 1e-12, "random_orthogonal: degenerate draw");
    for (int64_t i = 0; i < c; ++i) q[i * c + j] = v[i] / norm;
  }
  return from_vector(q, {c, c});
}

// ---------------------------------------------------------------------------------- ActNorm

ActNorm::ActNorm(Shape param_shape, ActNormInit init) : param_shape_(std::move(param_shape)), init_(init) {
  loc = register_parameter("loc", zeros(param_shape_));
  logs = register_parameter("logs", zeros(param_shape_));
  initialized_buf = register_buffer("initialized", zeros({}, DType::U8));
}

ActNorm::ActNorm(int64_t c, int rank, ActNormInit init) : ActNorm([&] {
      FG_CHECK(c >= 1 && rank >= 2, "ActNorm: needs c >= 1 channels and rank >= 2, got c={} rank={}", c, rank);
      Shape s(static_cast<size_t>(rank), 1);
      s[1] = c;
      return s;
    }(), init) {}

std::shared_ptr<ActNorm> ActNorm::elementwise(const Shape& example, ActNormInit init) {
  FG_CHECK(!example.empty() && numel(example) > 0, "ActNorm::elementwise: bad example shape {}", shape_str(example));
  Shape s{1};
  s.insert(s.end(), example.begin(), example.end());
  return std::shared_ptr<ActNorm>(new ActNorm(s, init));
}

std::string ActNorm::extra_repr() const { return shape_str(param_shape_); }

void ActNorm::on_loaded() { initialized_ = initialized_buf.value().item() != 0.0; }

std::vector<int64_t> ActNorm::stat_dims() const {
  std::vector<int64_t> d{0};
  for (size_t i = 1; i < param_shape_.size(); ++i)
    if (param_shape_[i] == 1) d.push_back(static_cast<int64_t>(i));
  return d;
}

double ActNorm::positions(const Var& z) const {
  return static_cast<double>(z.numel() / z.size(0) / (numel(param_shape_)));
}

void ActNorm::initialize_from(const Tensor& z) {
  FG_CHECK(z.dim() == static_cast<int64_t>(param_shape_.size()) && z.size(1) == param_shape_[1],
           "ActNorm{}: needs [N, {}, ...] of rank {}, got {}", shape_str(param_shape_), param_shape_[1],
           param_shape_.size(), shape_str(z.shape()));
  const std::vector<int64_t> dims = stat_dims();
  int64_t n = 1;
  for (int64_t d : dims) n *= z.size(d);
  Tensor mu, var;
  if (dist::ShardedStep::distributed()) {
    // this rank holds some rows of a global batch: the statistics of the whole batch, in the same
    // two passes (mean, then squared deviations from it), summed over the ranks
    n = n / z.size(0) * dist::ShardedStep::current()->split().global;
    FG_CHECK(n >= 2, "ActNorm: data-dependent init needs at least 2 values per parameter, got {}", n);
    mu = dist::global_sum(sum(z, dims, true), "ActNorm init (sum)") / static_cast<double>(n);
    var = dist::global_sum(sum(square(z - mu), dims, true), "ActNorm init (squares)") / static_cast<double>(n - 1);
  } else {
    FG_CHECK(n >= 2, "ActNorm: data-dependent init needs at least 2 values per parameter, got {}", n);
    mu = mean(z, dims, true);
    var = sum(square(z - mu), dims, true) / static_cast<double>(n - 1);  // unbiased, as torch
  }
  Tensor scale = init_ == ActNormInit::Glow ? neg(log(sqrt(var) + 1e-6)) : log(maximum(var, full_like(var, 0.2))) * -0.5;
  loc.mutable_value() = neg(mu).to(loc.dtype());
  logs.mutable_value() = scale.to(logs.dtype());
  initialized_buf.mutable_value() = ones({}, DType::U8, initialized_buf.device());
  initialized_ = true;
}

void ActNorm::forward(Var& z, Var& ldj, const FlowArgs&) {
  if (is_training() && !initialized()) {
    ag::NoGradGuard ng;
    initialize_from(z.value());
  }
  const double pos = positions(z);
  z = (z + loc) * ag::exp(logs);
  ldj = ldj + ag::sum(logs) * pos;
}

void ActNorm::reverse(Var& z, Var& ldj, const FlowArgs&) {
  const double pos = positions(z);
  z = z * ag::exp(-logs) - loc;
  ldj = ldj - ag::sum(logs) * pos;
}

// ---------------------------------------------------------------------------------- 1x1 convs

InvConv1x1::InvConv1x1(int64_t c, Generator* g) : c_(c) {
  weight = register_parameter("weight", random_orthogonal(c, g).to(DType::F32));
}

void InvConv1x1::forward(Var& z, Var& ldj, const FlowArgs&) {
  double hw = static_cast<double>(z.size(2) * z.size(3));
  ldj = ldj + ag::slogdet(weight) * hw;
  z = conv1x1(z, weight);
}

void InvConv1x1::reverse(Var& z, Var& ldj, const FlowArgs&) {
  double hw = static_cast<double>(z.size(2) * z.size(3));
  ldj = ldj - ag::slogdet(weight) * hw;
  z = conv1x1(z, ag::inverse(weight));
}

InvConv1x1LU::InvConv1x1LU(int64_t c, Generator* g) : c_(c) { init_from(random_orthogonal(c, g), DType::F32); }

InvConv1x1LU::InvConv1x1LU(const Tensor& w) : c_(w.dim() == 2 ? w.size(0) : 0) {
  init_from(w, is_floating(w.dtype()) ? w.dtype() : DType::F32);
}

void InvConv1x1LU::init_from(const Tensor& w0, DType t) {
  FG_CHECK(w0.dim() == 2 && w0.size(0) == w0.size(1), "InvConv1x1LU: needs a square matrix, got {}",
           shape_str(w0.shape()));
  int64_t c = c_;
  // w = P L U with partial pivoting (torch.linalg.lu_factor + lu_unpack): row i of Pm w is row
  // perm[i] of w, Pm w = L U, so P = Pm^T: P[perm[i], i] = 1.
  LUResult r = lu_factor(w0.to(DType::F64).to(Device::cpu()));
  FG_CHECK(!r.singular, "InvConv1x1LU: the matrix is singular");
  auto lu = r.lu.to_vector<double>();
  std::vector<double> pm(c * c, 0.0), lm(c * c, 0.0), um(c * c, 0.0), ss(c), ls(c), mask(c * c, 0.0), id(c * c, 0.0);
  for (int64_t i = 0; i < c; ++i) {
    pm[r.perm[i] * c + i] = 1.0;
    id[i * c + i] = 1.0;
    for (int64_t j = 0; j < c; ++j) {
      if (j < i) {
        lm[i * c + j] = lu[i * c + j];
        mask[i * c + j] = 1.0;
      } else if (j == i) {
        lm[i * c + j] = 1.0;
      } else {
        um[i * c + j] = lu[i * c + j];
      }
    }
    double s = lu[i * c + i];
    ss[i] = s > 0 ? 1.0 : -1.0;
    ls[i] = std::log(std::abs(s));
  }
  p = register_buffer("p", from_vector(pm, {c, c}).to(t));
  sign_s = register_buffer("sign_s", from_vector(ss, {c}).to(t));
  lmask = register_buffer("lmask", from_vector(mask, {c, c}).to(t));
  eye = register_buffer("eye", from_vector(id, {c, c}).to(t));
  l = register_parameter("l", from_vector(lm, {c, c}).to(t));
  u = register_parameter("u", from_vector(um, {c, c}).to(t));
  log_s = register_parameter("log_s", from_vector(ls, {c}).to(t));
}

Var InvConv1x1LU::weight() {
  Var lower = l * lmask + eye;
  Var umask = Var(transpose(lmask.value(), 0, 1));
  // diag(v) = eye * v (row broadcast)
  Var upper = u * umask + eye * ag::reshape(sign_s * ag::exp(log_s), {1, c_});
  return ag::matmul(ag::matmul(p, lower), upper);
}

void InvConv1x1LU::forward(Var& z, Var& ldj, const FlowArgs&) {
  double hw = static_cast<double>(z.size(2) * z.size(3));
  z = conv1x1(z, weight());
  ldj = ldj + ag::sum(log_s) * hw;
}

void InvConv1x1LU::reverse(Var& z, Var& ldj, const FlowArgs&) {
  double hw = static_cast<double>(z.size(2) * z.size(3));
  z = conv1x1(z, ag::inverse(weight()));
  ldj = ldj - ag::sum(log_s) * hw;
}

// ---------------------------------------------------------------------------------- coupling

GlowCoupling::GlowCoupling(int64_t c, int64_t hidden, int64_t num_classes)
    : c_(c), ca_(c / 2), hidden_(hidden), num_classes_(num_classes) {
  FG_CHECK(c >= 2, "GlowCoupling: needs at least 2 channels, got {}", c);
  // the peer's nn.Sequential(conv, ReLU, conv1x1, ReLU, conv): parameters at indices 0, 2, 4
  conv1_ = register_module("net.0", std::make_shared<nn::Conv2d>(ca_, hidden, 3, 1));
  conv2_ = register_module("net.2", std::make_shared<nn::Conv2d>(hidden, hidden, 1));
  conv3_ = register_module("net.4", std::make_shared<nn::Conv2d>(hidden, 2 * (c - ca_), 3, 1));
  nn::zeros_(conv3_->weight);
  nn::zeros_(conv3_->bias);
  if (num_classes_ > 0) class_embedding_ = register_parameter("class_embedding", zeros({num_classes_, hidden}));
}

std::string GlowCoupling::extra_repr() const { return fmt::format("c={}, hidden={}", c_, hidden_); }

// NN(za) gives t and r interleaved (h[:, 0::2], h[:, 1::2]); sigmoid_coupling reads them from h
// and computes the rest (shift, scale, the log-determinant, the pass-through of za) in one op
void GlowCoupling::couple(Var& z, Var& ldj, bool reverse, const Var* onehot) {
  FG_CHECK(z.dim() == 4 && z.size(1) == c_, "GlowCoupling({}){}: needs [N, {}, H, W], got {}", c_,
           reverse ? " reverse" : "", c_, shape_str(z.shape()));
  const Var za = ag::slice(z, 1, 0, ca_);
  const ConvChain chain(za, *conv1_, hidden_);
  Var h;
  if (num_classes_ > 0) {
    FG_CHECK(onehot && onehot->dim() == 2 && onehot->size(0) == z.size(0) && onehot->size(1) == num_classes_,
             "GlowCoupling: a class-conditioned coupling needs one-hot labels [{}, {}]", z.size(0), num_classes_);
    h = ag::relu(chain.add_channel_bias(chain.first(za, *conv1_, false), ag::matmul(*onehot, class_embedding_)));
  } else {
    h = chain.first(za, *conv1_, /*relu=*/true);
  }
  h = chain.conv(h, *conv2_, /*relu=*/true);
  h = chain.last(h, *conv3_, /*concat_elu=*/false);
  auto out = ag::sigmoid_coupling(z, h, ca_, 2.0, reverse);
  z = out[0];
  ldj = reverse ? ldj - out[1] : ldj + out[1];
}

void GlowCoupling::forward(Var& z, Var& ldj, const FlowArgs& a) { couple(z, ldj, false, a.label); }

void GlowCoupling::reverse(Var& z, Var& ldj, const FlowArgs& a) { couple(z, ldj, true, a.label); }

// ---------------------------------------------------------------------------------- step

GlowStep::GlowStep(int64_t c, int64_t hidden, bool lu, int64_t num_classes) {
  actnorm = std::make_shared<ActNorm>(c);
  if (lu) conv = std::make_shared<InvConv1x1LU>(c);
  else conv = std::make_shared<InvConv1x1>(c);
  coupling = std::make_shared<GlowCoupling>(c, hidden, num_classes);
  // the peer's nn.ModuleList names: layers.0 / layers.1 / layers.2
  register_module("layers.0", actnorm);
  register_module("layers.1", conv);
  register_module("layers.2", coupling);
}

void GlowStep::forward(Var& z, Var& ldj, const FlowArgs& a) {
  actnorm->forward(z, ldj, a);
  conv->forward(z, ldj, a);
  coupling->forward(z, ldj, a);
}

void GlowStep::reverse(Var& z, Var& ldj, const FlowArgs& a) {
  coupling->reverse(z, ldj, a);
  conv->reverse(z, ldj, a);
  actnorm->reverse(z, ldj, a);
}

}  // namespace fg::flows
