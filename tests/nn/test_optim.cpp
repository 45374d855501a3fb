// Optimizers against PyTorch's numbers, schedules, clipping, and small training runs.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/nn/layers.h"
#include "flowgrad/nn/losses.h"
#include "flowgrad/nn/optim.h"
#include "flowgrad/tensor/counters.h"

using namespace fg;
using namespace fg::nn;
using ag::Var;

namespace {
void run_steps(Optimizer& opt, Var& p, const std::vector<std::vector<double>>& grads,
               const std::vector<std::vector<double>>& expect) {
  for (size_t s = 0; s < grads.size(); ++s) {
    p.set_grad(from_vector(grads[s], {static_cast<int64_t>(grads[s].size())}));
    opt.step();
    auto v = p.value().to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == doctest::Approx(expect[s][i]).epsilon(1e-12));
  }
}
}  // namespace

// Expected values were printed by torch.optim.Adam / AdamW / SGD (Debian python3-torch 1.13,
// float64) for the same parameters, gradients and hyper-parameters.
TEST_CASE("Adam matches torch.optim.Adam step by step (with weight decay)") {
  Var p(from_vector<double>({1.0, -2.0, 0.5}, {3}), true);
  Adam opt({p}, 0.1, 0.9, 0.999, 1e-8, 0.01);
  run_steps(opt, p, {{0.5, -1.0, 2.0}, {-1.0, 0.25, 2.0}, {0.3, 0.3, -4.0}},
            {{0.900000001960784, -1.90000000098039, 0.400000000498753},
             {0.935523641532151, -1.85109480968014, 0.300001304466141},
             {0.94488712338805, -1.83121065532607, 0.307425473735696}});
}

TEST_CASE("AdamW matches torch.optim.AdamW step by step (decoupled weight decay, not Adam's L2)") {
  Var p(from_vector<double>({1.0, -2.0, 0.5}, {3}), true);
  AdamW opt({p}, 0.1, 0.9, 0.999, 1e-8, 0.5);
  run_steps(opt, p, {{0.5, -1.0, 2.0}, {-1.0, 0.25, 2.0}, {0.3, 0.3, -4.0}},
            {{0.850000002, -1.800000001, 0.3750000005},
             {0.844110354140565, -1.66305318447346, 0.256250000975001},
             {0.812671955845661, -1.56292640390777, 0.251002433975181}});
}

TEST_CASE("SGD with momentum, dampening and weight decay matches torch.optim.SGD") {
  Var p(from_vector<double>({1.0, -2.0}, {2}), true);
  SGD opt({p}, 0.1, 0.9, 0.1, 0.01);
  run_steps(opt, p, {{0.5, -1.0}, {-1.0, 0.25}, {0.3, 0.3}},
            {{0.949, -1.898}, {0.9922459, -1.8269918}, {1.00327418869, -1.78844012738}});
}

TEST_CASE("Adam with a constant gradient moves each parameter by lr per step") {
  Var p(from_vector<double>({3.0}, {1}), true);
  Adam opt({p}, 0.01, 0.9, 0.999, 0.0);
  for (int i = 0; i < 5; ++i) {
    p.set_grad(from_vector<double>({2.0}, {1}));
    opt.step();
  }
  CHECK(p.item() == doctest::Approx(2.95).epsilon(1e-12));
}

TEST_CASE("StepLR decays the learning rate per epoch; set_epoch restores it") {
  Var p(zeros({1}, DType::F64), true);
  Adam opt({p}, 1e-3);
  StepLR sched(opt, 1, 0.99);
  for (int i = 0; i < 10; ++i) sched.step();
  CHECK(opt.lr() == doctest::Approx(1e-3 * std::pow(0.99, 10)));
  Adam opt2({p}, 1e-3);
  StepLR every2(opt2, 2, 0.5);
  every2.set_epoch(5);
  CHECK(opt2.lr() == doctest::Approx(1e-3 * 0.25));
}

TEST_CASE("clip_grad_norm scales to max_norm and returns the norm before clipping") {
  Var a(zeros({2}, DType::F64), true), b(zeros({1}, DType::F64), true);
  a.set_grad(from_vector<double>({3, 0}, {2}));
  b.set_grad(from_vector<double>({4}, {1}));
  double n = clip_grad_norm({a, b}, 1.0).item();
  CHECK(n == doctest::Approx(5.0));
  CHECK(a.grad().to_vector<double>()[0] == doctest::Approx(3.0 / (5.0 + 1e-6)));
  CHECK(clip_grad_norm({a, b}, 10.0).item() == doctest::Approx(1.0).epsilon(1e-5));  // below: unchanged
}

TEST_CASE("optimizer state round-trips through state_dict") {
  manual_seed(3);
  Var p1(randn({4}, DType::F64), true), p2(p1.value().clone(), true);
  Adam o1({p1}, 0.01), o2({p2}, 0.01);
  Tensor g = randn({4}, DType::F64);
  p1.set_grad(g);
  o1.step();
  p2.set_grad(g);
  o2.step();
  Adam o3({p2}, 0.5);
  o3.load_state_dict(o2.state_dict());
  CHECK(o3.lr() == 0.01);
  CHECK(o3.steps() == 1);
  p1.set_grad(g * 2.0);
  o1.step();
  p2.set_grad(g * 2.0);
  o3.step();
  CHECK(max_abs_diff(p1.value(), p2.value()) == 0.0);
}

TEST_CASE("an MLP trained with Adam fits a smooth 2-D function (MSE < 0.01)") {
  manual_seed(11);
  Tensor x = uniform({256, 2}, -1, 1);
  auto xv = x.to_vector<float>();
  std::vector<float> yv(256);
  for (int i = 0; i < 256; ++i) yv[i] = std::sin(2.0f * xv[2 * i]) + xv[2 * i + 1] * xv[2 * i + 1];
  Tensor y = from_vector(yv, {256, 1});
  Sequential mlp({std::make_shared<Linear>(2, 32), nn::tanh(), std::make_shared<Linear>(32, 32), nn::tanh(),
                  std::make_shared<Linear>(32, 1)});
  Adam opt(mlp.parameters(), 1e-2);
  double first = 0, last = 0;
  for (int step = 0; step < 400; ++step) {
    opt.zero_grad();
    Var loss = mse_loss(mlp(Var(x)), Var(y));
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  INFO("first ", first, " last ", last);
  CHECK(last < 0.01);
  CHECK(last < first / 20);
}

TEST_CASE("a small conv net trained with SGD+momentum learns a 3x3 box filter (MSE < 1e-3)") {
  manual_seed(12);
  Tensor x = randn({16, 1, 8, 8});
  Tensor box = full({1, 1, 3, 3}, 1.0 / 9.0);
  ConvOptions o;
  o.padding = 1;
  Tensor y = conv2d(x, box, nullptr, o);
  Sequential net({std::make_shared<Conv2d>(1, 4, 3, 1), std::make_shared<Conv2d>(4, 1, 1)});
  SGD opt(net.parameters(), 0.1, 0.9);
  double last = 0;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    Var loss = mse_loss(net(Var(x)), Var(y));
    loss.backward();
    opt.step();
    last = loss.item();
  }
  CHECK(last < 1e-3);
}

TEST_CASE("a non-zero skip flag makes Adam and SGD steps no-ops, step count included") {
  for (int kind = 0; kind < 2; ++kind) {
    Var p(from_vector<double>({1.0, -2.0}, {2}), true);
    std::unique_ptr<Optimizer> opt;
    if (kind == 0) opt = std::make_unique<Adam>(std::vector<Var>{p}, 0.1);
    else opt = std::make_unique<SGD>(std::vector<Var>{p}, 0.1, 0.9);
    p.set_grad(from_vector<double>({0.5, 0.5}, {2}));
    opt->step();
    auto after_one = p.value().to_vector<double>();
    Tensor skip = scalar(1.0, DType::F64), go = scalar(0.0, DType::F64);
    opt->step(&skip);
    CHECK(p.value().to_vector<double>() == after_one);
    CHECK(opt->steps() == 1);
    opt->step(&go);
    CHECK(p.value().to_vector<double>() != after_one);
    CHECK(opt->steps() == 2);
  }
}

TEST_CASE("Adam updates parameters in place, but never a tensor someone else holds") {
  Var p(from_vector<double>({1.0, 2.0}, {2}), true);
  Adam opt({p}, 0.1);
  p.set_grad(ones({2}, DType::F64));
  opt.step();
  const void* storage = p.value().raw();
  p.set_grad(ones({2}, DType::F64));
  opt.step();
  CHECK(p.value().raw() == storage);  // in place
  Tensor held = p.value();            // e.g. a state_dict() being written out
  auto before = held.to_vector<double>();
  p.set_grad(ones({2}, DType::F64));
  opt.step();
  CHECK(held.to_vector<double>() == before);  // copy-on-write
  CHECK(p.value().to_vector<double>() != before);
}

TEST_CASE("optimizer_step reads nothing back and skips a step whose loss or gradient is non-finite") {
  Var w(from_vector<double>({0.5, -0.25}, {2}), true);
  Adam opt({w}, 0.1);
  Tensor x = from_vector<double>({1.0, 2.0}, {2});
  // finite: applied
  Counters c0 = counters();
  StepResult r = optimizer_step(sum(w * Var(x)), opt, 1.0);
  CHECK(counters().host_reads == c0.host_reads);
  CHECK(r.bad.item() == 0.0);
  CHECK(opt.steps() == 1);
  auto w1 = w.value().to_vector<double>();
  // NaN loss (and gradient): skipped on the device
  opt.zero_grad();
  r = optimizer_step(sum(w * Var(x)) * std::nan(""), opt, 1.0);
  CHECK(r.bad.item() == 1.0);
  CHECK(w.value().to_vector<double>() == w1);
  CHECK(opt.steps() == 1);
  // finite loss (sqrt(0) = 0), non-finite gradient (1 / (2 sqrt(0)) * 0): also skipped
  opt.zero_grad();
  r = optimizer_step(sum(sqrt(w * 0.0)), opt, 1.0);
  CHECK(std::isfinite(r.loss.item()));
  CHECK(r.bad.item() == 1.0);
  CHECK(w.value().to_vector<double>() == w1);
}

TEST_CASE("optimizer state follows the parameters' device: to() and loading after the model moved") {
  // The GPU code path, run on the CPU: move the model, build the optimizer there, load the state.
  Var p(from_vector<double>({1.0, 2.0, 3.0}, {3}), true);
  Adam a({p}, 0.1);
  p.set_grad(ones({3}, DType::F64));
  a.step();
  auto sd = a.state_dict();
  Device d = Device::cpu();
  p.mutable_value() = p.value().to(d);
  Adam b({p}, 0.1);
  b.to(d);
  b.load_state_dict(sd);
  for (auto& [name, t] : b.state_dict()) CHECK(t.device() == d);
  CHECK(b.steps() == 1);
}
