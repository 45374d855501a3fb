// Glow's steps: invertibility (f64 and f32, errors stated), forward log-det against the
// brute-force log|det J| (f64) for ActNorm, both 1x1 convolutions, the coupling and a whole step;
// ActNorm's data-dependent initialization happens once and survives state dicts and checkpoints;
// the LU and plain 1x1 convolutions agree; the glow model matches the PyTorch peer's parameter
// names and count; gradients of a step's parameters match central differences (f64).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "flow_testing.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/flows/multiscale.h"
#include "flowgrad/nn/checkpoint.h"

using namespace fg;
using namespace fg::flows;
using fg::flows::testing::check_onednn_matches_reference;
using fg::flows::testing::brute_force_logdet;
using fg::flows::testing::forward_ldj;
using fg::flows::testing::round_trip;
using fg::flows::testing::RoundTrip;
using fg::flows::testing::randomize;

namespace {

double brute(Flow& f, const Tensor& z) {
  return brute_force_logdet([&](const Var& x) {
    Var zz = x, l(zeros({1}, DType::F64));
    f.forward(zz, l);
    return zz;
  }, z);
}

// Every layer under test, randomized away from its identity-like init; eval() so ActNorm keeps
// the random loc/logs instead of initializing from the data.
std::vector<std::pair<std::string, FlowPtr>> random_layers(int64_t c, uint64_t seed) {
  std::vector<std::pair<std::string, FlowPtr>> out{
      {"ActNorm", std::make_shared<ActNorm>(c)},
      {"InvConv1x1", std::make_shared<InvConv1x1>(c)},
      {"InvConv1x1LU", std::make_shared<InvConv1x1LU>(c)},
      {"GlowCoupling", std::make_shared<GlowCoupling>(c, 8)},
      {"GlowStep", std::make_shared<GlowStep>(c, 8)},
      {"GlowStep(plain 1x1)", std::make_shared<GlowStep>(c, 8, false)},
  };
  for (auto& [name, f] : out) {
    randomize(*f, 0.3, seed++);
    f->eval();
  }
  return out;
}

Tensor identity(int64_t c) {
  std::vector<double> v(c * c, 0.0);
  for (int64_t i = 0; i < c; ++i) v[i * c + i] = 1.0;
  return from_vector(v, {c, c});
}

std::string temp_file(const std::string& name) {
  static int counter = 0;
  auto dir = std::filesystem::temp_directory_path() /
             ("flowgrad_glow_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace

TEST_CASE("Glow layers (f64): inverse exact, log-det equals the brute-force Jacobian, reverse negates it") {
  for (int64_t c : {4, 8}) {
    manual_seed(100 + c);
    for (auto& [name, f] : random_layers(c, 200 + c)) {
      f->to(DType::F64);
      Tensor z = randn({1, c, 3, 3}, DType::F64);
      RoundTrip rt = round_trip(*f, z);
      double bf = brute(*f, z);
      INFO(name, " c=", c, ": max inverse error ", rt.max_err, ", ldj ", rt.ldj_forward, " vs brute force ", bf);
      MESSAGE(name, " c=", c, " f64: max |reverse(forward(z)) - z| = ", rt.max_err, ", |ldj - brute force| = ",
              std::abs(rt.ldj_forward - bf));
      CHECK(rt.max_err < 1e-12);
      CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-12));
      CHECK(std::abs(rt.ldj_forward) > 1e-3);  // not the identity
      CHECK(rt.ldj_forward == doctest::Approx(bf).epsilon(1e-9));
      // a batch: every example gets its own ldj (data-dependent only for the coupling)
      Tensor zb = randn({3, c, 3, 3}, DType::F64);
      ag::NoGradGuard ng;
      Var zz(zb), l(zeros({3}, DType::F64));
      f->forward(zz, l);
      auto ls = l.value().to_vector<double>();
      for (int i = 0; i < 3; ++i) CHECK(ls[i] == doctest::Approx(forward_ldj(*f, slice(zb, 0, i, i + 1))).epsilon(1e-12));
    }
  }
}

TEST_CASE("Glow layers (f32): inverse to f32 precision") {
  manual_seed(7);
  for (auto& [name, f] : random_layers(8, 300)) {
    Tensor z = randn({16, 8, 6, 6});
    RoundTrip rt = round_trip(*f, z);
    MESSAGE(name, " f32 (|z| ~ 4): max |reverse(forward(z)) - z| = ", rt.max_err);
    INFO(name);
    CHECK(rt.max_err < 2e-5);
    CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-5));
  }
}

TEST_CASE("GlowCoupling's channel-blocked oneDNN net gives the reference kernels' output, log-det and gradients") {
  const int64_t b = conv_channel_block(zeros({1}, DType::F32));
  if (b == 0) {
    MESSAGE("no oneDNN in this build: the blocked path does not exist");
    return;
  }
  // 8 channels: the net's first conv, 4->2b, has JIT kernels forward only (oneDNN 2.6, AVX-512),
  // so the inference run takes another path than training's; 16: the last conv, 2b->16, runs
  // forward on our Winograd with NCHW output where b is 8
  for (int64_t c : {4, 8, 16}) {
    CAPTURE(c);
    GlowCoupling layer(c, 2 * b);  // hidden = 2b channels: two blocks
    randomize(layer, 0.3, 5);
    check_onednn_matches_reference(layer, randn({2, c, 6, 5}), [&](const Var& x) {
      Var z = x, ldj(zeros({2}));
      layer.forward(z, ldj);
      return ag::concat({ag::reshape(z, {2, c * 6 * 5}), ag::reshape(ldj, {2, 1})}, 1);
    });
  }
}

TEST_CASE("LU and plain 1x1 convolutions agree for the same matrix; LU init reconstructs an orthogonal matrix") {
  Generator g(3);
  for (int64_t c : {2, 4, 8}) {
    // a general (non-orthogonal, some negative pivots) matrix
    Tensor w = randn({c, c}, DType::F64, Device::cpu(), &g) + identity(c);
    InvConv1x1LU lu(w);
    InvConv1x1 plain(c);
    plain.to(DType::F64);
    {
      ag::NoGradGuard ng;
      plain.weight.mutable_value() = w.clone();
      CHECK(max_abs_diff(lu.weight().value(), w) < 1e-12);
    }
    Tensor z = randn({2, c, 5, 5}, DType::F64, Device::cpu(), &g);
    ag::NoGradGuard ng;
    Var z1(z), l1(zeros({2}, DType::F64)), z2(z), l2(zeros({2}, DType::F64));
    lu.forward(z1, l1);
    plain.forward(z2, l2);
    CHECK(max_abs_diff(z1.value(), z2.value()) < 1e-12);
    CHECK(max_abs_diff(l1.value(), l2.value()) < 1e-10);
    CHECK(l1.value().to_vector<double>()[0] == doctest::Approx(25.0 * slogdet(w).logabsdet).epsilon(1e-12));
    // sign_s and the permutation are buffers; only l, u, log_s train
    auto np = lu.named_parameters();
    REQUIRE(np.size() == 3);
    CHECK(np[0].first == "l");
    CHECK(np[1].first == "u");
    CHECK(np[2].first == "log_s");
  }
  // the default init: W = P L U is orthogonal, |log det| = 0
  manual_seed(11);
  InvConv1x1LU lu(6);
  lu.to(DType::F64);
  ag::NoGradGuard ng;
  Tensor w = lu.weight().value();
  Tensor wtw = matmul(w, w, true, false);
  CHECK(max_abs_diff(wtw, identity(6)) < 1e-6);  // stored in f32 before the cast
  CHECK(std::abs(sum(lu.log_s.value()).item()) < 1e-5);
  InvConv1x1 plain(6);
  CHECK(std::abs(slogdet(plain.weight.value()).logabsdet) < 1e-5);
}

TEST_CASE("ActNorm initializes from the first training batch, once") {
  manual_seed(21);
  ActNorm an(3);
  CHECK_FALSE(an.initialized());
  Tensor x = randn({16, 3, 5, 5}) * 3.0 + 2.0;
  Var z(x), ldj(zeros({16}));
  {
    // eval mode never initializes
    an.eval();
    Var ze(x), le(zeros({16}));
    an.forward(ze, le);
    CHECK_FALSE(an.initialized());
    CHECK(max_abs_diff(ze.value(), x) == 0.0);
    an.train();
  }
  an.forward(z, ldj);
  CHECK(an.initialized());
  Tensor mu = mean(z.value(), {0, 2, 3}).to(DType::F64);
  Tensor zc = z.value().to(DType::F64) - mean(z.value().to(DType::F64), {0, 2, 3}, true);
  Tensor sd = sqrt(sum(square(zc), {0, 2, 3}) / (16.0 * 25.0 - 1.0));
  for (double m : mu.to_vector<double>()) CHECK(std::abs(m) < 1e-5);
  for (double s : sd.to_vector<double>()) CHECK(s == doctest::Approx(1.0).epsilon(1e-5));
  // ldj = H W sum(logs) = -25 sum log std
  CHECK(ldj.value().to_vector<double>()[0] == doctest::Approx(25.0 * sum(an.logs.value()).item()).epsilon(1e-6));
  // a second batch does not re-initialize
  Tensor loc = an.loc.value().clone(), logs = an.logs.value().clone();
  Var z2(randn({8, 3, 5, 5}) * 0.1), l2(zeros({8}));
  an.forward(z2, l2);
  CHECK(max_abs_diff(an.loc.value(), loc) == 0.0);
  CHECK(max_abs_diff(an.logs.value(), logs) == 0.0);
  // the init is not part of the graph, but the forward is: gradients reach loc and logs
  an.zero_grad();
  Var z3(randn({4, 3, 5, 5})), l3(zeros({4}));
  an.forward(z3, l3);
  (ag::sum(z3) + ag::sum(l3)).backward();
  CHECK(an.loc.grad().defined());
  CHECK(an.logs.grad().defined());
  // the flag is a u8 0-d buffer, as the peer's torch.tensor(0, dtype=torch.uint8)
  auto bufs = an.named_buffers();
  REQUIRE(bufs.size() == 1);
  CHECK(bufs[0].first == "initialized");
  CHECK(bufs[0].second.dtype() == DType::U8);
  CHECK(bufs[0].second.shape() == Shape{});
}

TEST_CASE("ActNorm's initialized state survives state_dict and a checkpoint round trip") {
  manual_seed(22);
  auto trained = build_model({"glow"});
  Generator gen(4);
  Tensor imgs = floor(uniform({8, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  trained->bpd(imgs);  // training mode: every ActNorm initializes from this batch
  std::map<std::string, Tensor> sd = trained->state_dict();
  int64_t n_init = 0;
  for (auto& [n, t] : sd)
    if (n.find(".initialized") != std::string::npos) {
      ++n_init;
      CHECK(t.item() == 1.0);
    }
  CHECK(n_init == 16);
  Tensor other = floor(uniform({8, 1, 28, 28}, 0, 128, DType::F64, Device::cpu(), &gen)).to(DType::I32);

  auto check_not_reinitialized = [&](ImageFlow& m, const char* how) {
    INFO(how);
    m.train();
    m.bpd(other);  // a forward in training mode on different data
    auto after = m.state_dict();
    double worst = 0;
    for (auto& [n, t] : sd) worst = std::max(worst, max_abs_diff(after.at(n).to(DType::F64), t.to(DType::F64)));
    CHECK(worst == 0.0);
  };

  SUBCASE("load_state_dict") {
    manual_seed(23);
    auto fresh = build_model({"glow"});
    fresh->load_state_dict(sd);
    check_not_reinitialized(*fresh, "load_state_dict");
  }
  SUBCASE("save_checkpoint / load_checkpoint") {
    std::string path = temp_file("glow.safetensors");
    nn::Adam opt(trained->parameters(), 1e-3);
    nn::save_checkpoint(path, *trained, &opt, {{"config", config_to_json({"glow"})}});
    nn::Checkpoint ck = nn::load_checkpoint(path);
    CHECK(ck.model.at("flows.2.layers.0.initialized").dtype() == DType::U8);
    CHECK(ck.model.at("flows.2.layers.0.initialized").item() == 1.0);
    manual_seed(24);
    auto fresh = build_model(config_from_json(ck.get("config")));
    nn::Adam opt2(fresh->parameters(), 1e-3);
    nn::restore(ck, *fresh, &opt2, false);
    check_not_reinitialized(*fresh, "checkpoint");
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  }
  SUBCASE("control: an un-initialized model does initialize on that data") {
    manual_seed(25);
    auto fresh = build_model({"glow"});
    fresh->bpd(other);
    auto after = fresh->state_dict();
    CHECK(max_abs_diff(after.at("flows.2.layers.0.loc"), sd.at("flows.2.layers.0.loc")) > 1e-3);
  }
}

TEST_CASE("glow model: the peer's parameter count, names and shapes; options change depth and width") {
  auto m = build_model({"glow"});
  CHECK(m->num_parameters() == 433792);
  CHECK(model_entry("glow").reference_params({"glow", Arch::V1}) == 433792);
  CHECK(m->latent_shape(2) == Shape{2, 8, 7, 7});
  // torch: flows.{i}.layers.{0: ActNorm, 1: InvConv1x1LU, 2: GlowCoupling}
  std::map<std::string, Shape> want{
      {"flows.2.layers.0.loc", {1, 4, 1, 1}},      {"flows.2.layers.0.logs", {1, 4, 1, 1}},
      {"flows.2.layers.1.l", {4, 4}},              {"flows.2.layers.1.u", {4, 4}},
      {"flows.2.layers.1.log_s", {4}},             {"flows.2.layers.2.net.0.weight", {128, 2, 3, 3}},
      {"flows.2.layers.2.net.2.weight", {128, 128, 1, 1}}, {"flows.2.layers.2.net.4.weight", {4, 128, 3, 3}},
      {"flows.2.layers.2.net.4.bias", {4}},        {"flows.12.layers.2.net.0.weight", {128, 4, 3, 3}},
      {"flows.19.layers.2.net.4.weight", {8, 128, 3, 3}}, {"flows.19.layers.1.p", {8, 8}},
      {"flows.19.layers.1.sign_s", {8}},           {"flows.19.layers.1.lmask", {8, 8}},
      {"flows.19.layers.1.eye", {8, 8}},           {"flows.19.layers.0.initialized", {}},
  };
  auto sd = m->state_dict();
  for (auto& [n, s] : want) {
    INFO(n);
    REQUIRE(sd.count(n) == 1);
    CHECK(sd.at(n).shape() == s);
  }
  CHECK(sd.size() == 16 * (3 + 7 + 6));  // per step: ActNorm 3, LU conv 7, coupling 6 tensors
  CHECK(sum(abs(sd.at("flows.19.layers.2.net.4.weight"))).item() == 0.0);  // zero-init last conv
  ModelConfig cfg{"glow"};
  cfg.options = {{"glow_k", 2}, {"glow_hidden", 16}};
  auto small = build_model(cfg);
  CHECK(small->flows().size() == 2 + 2 + 2 + 2);
  CHECK(small->num_parameters() < 20000);
  ModelConfig back = config_from_json(config_to_json(cfg));
  CHECK(back.int_option("glow_k") == 2);
  CHECK(back.int_option("glow_hidden") == 16);
}

TEST_CASE("glow: encode/decode round trip (f64, the split's half from the stash)") {
  manual_seed(31);
  ModelConfig cfg{"glow"};
  cfg.options = {{"glow_k", 2}, {"glow_hidden", 8}};
  auto m = build_model(cfg);
  Generator gen(8);
  Tensor imgs = floor(uniform({2, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  m->bpd(imgs);  // data-dependent init
  randomize(*m, 0.05, 9);
  m->to(DType::F64);
  m->eval();
  std::vector<Tensor> latents;  // the split's factored-out half, for an exact inverse
  ag::NoGradGuard ng;
  Tensor z = m->encode(imgs, &latents).z.value();
  CHECK(z.shape() == Shape{2, 8, 7, 7});
  CHECK(latents.size() == 1);
  CHECK(m->num_splits() == 1);
  Tensor back = m->decode(z, {}, &latents);
  CHECK(max_abs_diff(back.to(DType::F64), imgs.to(DType::F64)) == 0.0);
}

TEST_CASE("gradcheck of a Glow step's parameters (f64, central differences)") {
  for (bool lu : {true, false}) {
    manual_seed(41);
    GlowStep step(4, 6, lu);
    randomize(step, 0.3, 42);
    step.to(DType::F64);
    Tensor z = randn({2, 4, 3, 3}, DType::F64);
    {
      // initialize ActNorm (training mode) so the checked function is fixed afterwards
      Var zz(z), l(zeros({2}, DType::F64));
      step.forward(zz, l);
      REQUIRE(step.actnorm->initialized());
    }
    Generator g(5);
    Tensor proj = randn({2 * 4 * 3 * 3}, DType::F64, Device::cpu(), &g);
    std::string bad = fg::flows::testing::check_param_grads(step, [&] {
      Var zz(z), l(zeros({2}, DType::F64));
      step.forward(zz, l);
      return ag::sum(ag::reshape(zz, {-1}) * Var(proj)) + ag::sum(l);
    }, 6);
    std::string which = lu ? "LU" : "plain";
    INFO(which);
    CHECK_MESSAGE(bad.empty(), bad);
  }
}
