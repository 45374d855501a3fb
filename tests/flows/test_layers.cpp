// Every flow layer: invertibility (f64 and f32, errors stated), forward log-det equal to the
// brute-force log|det J| (f64), and reverse log-det equal to minus forward's.
#include <doctest/doctest.h>

#include <cmath>

#include "flow_testing.h"
#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/gated_conv.h"
#include "flowgrad/flows/multiscale.h"
#include "tensor/cpu/cpu_backend.h"

using namespace fg;
using namespace fg::flows;
using fg::flows::testing::brute_force_logdet;
using fg::flows::testing::forward_ldj;
using fg::flows::testing::round_trip;
using fg::flows::testing::RoundTrip;
using fg::flows::testing::randomize;

namespace {

std::shared_ptr<CouplingLayer> random_coupling(int64_t c, Tensor mask, Arch arch, bool additive, uint64_t seed,
                                               int64_t cond_c = 0) {
  auto net = std::make_shared<GatedConvNet>(c + cond_c, 8, additive ? c : 2 * c, arch, 1);
  auto layer = std::make_shared<CouplingLayer>(net, mask, c, additive);
  randomize(*layer, 0.3, seed);
  return layer;
}

}  // namespace

TEST_CASE("GatedConvNet's channel-blocked oneDNN path gives the reference kernels' output and gradients") {
  const int64_t b = conv_channel_block(zeros({1}, DType::F32));
  if (b == 0) {
    MESSAGE("no oneDNN in this build: the blocked path does not exist");
    return;
  }
  for (Arch arch : {Arch::V1, Arch::V2}) {
    INFO("arch ", arch_name(arch));
    GatedConvNet net(3, 2 * b, 5, arch, 2);  // hidden = 2b channels: two blocks
    randomize(net, 0.3, 7);
    fg::flows::testing::check_onednn_matches_reference(net, randn({2, 3, 6, 5}), [&](const ag::Var& x) { return net.forward(x); });
  }
}

TEST_CASE("affine coupling (checkerboard and channel masks, both archs): inverse and brute-force log-det") {
  for (Arch arch : {Arch::V1, Arch::V2}) {
    for (bool channel : {false, true}) {
      for (bool invert : {false, true}) {
        int64_t c = channel ? 4 : 1;
        Tensor mask = channel ? channel_mask(c, invert) : checkerboard_mask(4, 4, invert);
        auto layer = random_coupling(c, mask, arch, false, 11 + invert + 2 * channel);
        layer->to(DType::F64);
        Tensor z = randn({1, c, 4, 4}, DType::F64);
        RoundTrip rt = round_trip(*layer, z);
        INFO("arch ", arch_name(arch), " channel ", channel, " invert ", invert);
        CHECK(rt.max_err < 1e-12);
        CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-12));
        CHECK(std::abs(rt.ldj_forward) > 1e-3);  // the random layer is not the identity
        double bf = brute_force_logdet([&](const Var& x) {
          Var zz = x, l(zeros({1}, DType::F64));
          layer->forward(zz, l);
          return zz;
        }, z);
        CHECK(rt.ldj_forward == doctest::Approx(bf).epsilon(1e-9));
      }
    }
  }
}

TEST_CASE("additive coupling: volume preserving and invertible") {
  auto layer = random_coupling(1, checkerboard_mask(4, 4), Arch::V2, true, 21);
  layer->to(DType::F64);
  Tensor z = randn({1, 1, 4, 4}, DType::F64);
  RoundTrip rt = round_trip(*layer, z);
  CHECK(rt.max_err < 1e-12);
  CHECK(rt.ldj_forward == 0.0);
  double bf = brute_force_logdet([&](const Var& x) {
    Var zz = x, l(zeros({1}, DType::F64));
    layer->forward(zz, l);
    return zz;
  }, z);
  CHECK(std::abs(bf) < 1e-10);
}

TEST_CASE("coupling in f32 inverts to f32 precision") {
  auto layer = random_coupling(4, channel_mask(4), Arch::V2, false, 22);
  Tensor z = randn({8, 4, 6, 6});
  RoundTrip rt = round_trip(*layer, z);
  CHECK(rt.max_err < 1e-5);  // |z| ~ 3, exp(s) with |s| ~ 1: a few ulps of f32
  CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-5));
}

TEST_CASE("conditional coupling (variational dequantization's) and the noise flow's log-det") {
  auto layer = random_coupling(1, checkerboard_mask(4, 4), Arch::V2, false, 23, 1);
  layer->to(DType::F64);
  Var img(randn({1, 1, 4, 4}, DType::F64));
  Tensor z = randn({1, 1, 4, 4}, DType::F64);
  RoundTrip rt = round_trip(*layer, z, {&img});
  CHECK(rt.max_err < 1e-12);
  double bf = brute_force_logdet([&](const Var& x) {
    Var zz = x, l(zeros({1}, DType::F64));
    layer->forward(zz, l, {&img});
    return zz;
  }, z);
  CHECK(rt.ldj_forward == doctest::Approx(bf).epsilon(1e-9));

  // the whole noise flow u -> logit -> couplings -> sigmoid, u in (0,1)
  std::vector<FlowPtr> flows{random_coupling(1, checkerboard_mask(4, 4), Arch::V2, false, 24, 1),
                             random_coupling(1, checkerboard_mask(4, 4, true), Arch::V2, false, 25, 1)};
  for (bool unscale : {false, true}) {
    VariationalDequantization vd(flows, 1e-5, unscale);
    vd.to(DType::F64);
    Tensor u = uniform({1, 1, 4, 4}, 0.05, 0.95, DType::F64);
    Var uu(u), l(zeros({1}, DType::F64));
    {
      ag::NoGradGuard ng;
      vd.noise_flow(uu, l, img);
    }
    double bf2 = brute_force_logdet([&](const Var& x) {
      Var zz = x, l2(zeros({1}, DType::F64));
      vd.noise_flow(zz, l2, img);
      return zz;
    }, u);
    CHECK(l.value().item() == doctest::Approx(bf2).epsilon(1e-9));
  }
}

TEST_CASE("dequantization: logit/sigmoid log-dets match brute force; integers round-trip") {
  for (bool unscale : {false, true}) {
    Dequantization dq(1e-5, unscale);
    Tensor y = uniform({1, 1, 3, 3}, 0.01, 0.99, DType::F64);
    Var z(y), l(zeros({1}, DType::F64));
    dq.logit(z, l);
    double bf = brute_force_logdet([&](const Var& x) {
      Var zz = x, l2(zeros({1}, DType::F64));
      dq.logit(zz, l2);
      return zz;
    }, y);
    CHECK(l.value().item() == doctest::Approx(bf).epsilon(1e-10));
    Var z2 = z, l3(zeros({1}, DType::F64));
    dq.sigmoid(z2, l3);
    double bf_s = brute_force_logdet([&](const Var& x) {
      Var zz = x, l4(zeros({1}, DType::F64));
      dq.sigmoid(zz, l4);
      return zz;
    }, z.value());
    CHECK(l3.value().item() == doctest::Approx(bf_s).epsilon(1e-10));
    if (unscale) CHECK(max_abs_diff(z2.value(), y) < 1e-12);  // sigmoid undoes logit exactly
  }
  // integers 0..255 -> logit space -> integers: exact in f64
  std::vector<int32_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = i;
  Tensor imgs = from_vector(all, {4, 1, 8, 8});
  for (DType t : {DType::F64, DType::F32}) {
    manual_seed(31);
    Dequantization dq(1e-5, true);
    ag::NoGradGuard ng;
    Var z(imgs), ldj(zeros({4}, t));
    dq.forward(z, ldj);
    CHECK(z.dtype() == t);
    Var ldj2(zeros({4}, t));
    dq.reverse(z, ldj2);
    CHECK(z.dtype() == DType::I32);
    int64_t wrong = static_cast<int64_t>(sum(ne(z.value().to(DType::F64), imgs.to(DType::F64))).item());
    INFO(dtype_name(t), ": ", wrong, " of 256 values came back off by one");
    if (t == DType::F64) CHECK(wrong == 0);
    else CHECK(wrong <= 3);  // f32: (x+u)/256 near an integer boundary can round across it (the tutorial's note)
    CHECK(max_abs_diff(ldj2.value(), -ldj.value()) < (t == DType::F64 ? 1e-9 : 1e-2));
  }
}

TEST_CASE("squeeze reproduces the tutorial's 4x4 example and inverts") {
  SqueezeFlow sq;
  Tensor img = arange(1, 17, 1, DType::F64).reshape({1, 1, 4, 4});
  Var z(img), ldj(zeros({1}, DType::F64));
  sq.forward(z, ldj);
  CHECK(z.shape() == Shape{1, 4, 2, 2});
  // printed as permute(0, 2, 3, 1): [[[1, 2, 5, 6], [3, 4, 7, 8]], [[9, 10, 13, 14], [11, 12, 15, 16]]]
  CHECK(permute(z.value(), {0, 2, 3, 1}).to_vector<double>() ==
        std::vector<double>{1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16});
  sq.reverse(z, ldj);
  CHECK(max_abs_diff(z.value(), img) == 0.0);
  CHECK(ldj.value().item() == 0.0);
  Tensor r = randn({1, 2, 4, 4}, DType::F64);
  double bf = brute_force_logdet([&](const Var& x) {
    Var zz = x, l(zeros({1}, DType::F64));
    sq.forward(zz, l);
    return zz;
  }, r);
  CHECK(std::abs(bf) < 1e-12);
}

TEST_CASE("split adds the factored-out half's log-density and inverts with the kept latents") {
  SplitFlow sp;
  std::vector<Tensor> latents;
  FlowArgs keep;
  keep.latents = &latents;
  Tensor z0 = randn({2, 4, 3, 3}, DType::F64);
  Var z(z0), ldj(zeros({2}, DType::F64));
  sp.forward(z, ldj, keep);
  CHECK(latents.size() == 1);
  CHECK(z.shape() == Shape{2, 2, 3, 3});
  Tensor second = slice(z0, 1, 2, 4);
  Tensor expect = sum(square(second) * -0.5 - 0.5 * std::log(2 * M_PI), {1, 2, 3});
  CHECK(max_abs_diff(ldj.value(), expect) < 1e-12);
  Var ldj2(zeros({2}, DType::F64));
  sp.reverse(z, ldj2, keep);
  CHECK(latents.empty());
  CHECK(max_abs_diff(z.value(), z0) == 0.0);
  CHECK(max_abs_diff(ldj2.value(), -expect) < 1e-12);
  CHECK_THROWS_WITH(sp.reverse(z, ldj2, keep), doctest::Contains("no split-off latent left"));
  // without latents, reverse draws a fresh half: N(0, T^2) from the sampling options' generator
  SampleOptions so;
  so.temperature = 0.5;
  for (uint64_t seed : {3, 4}) {
    Generator g(seed), g2(seed);
    so.generator = &g;
    FlowArgs draw;
    draw.sample = &so;
    Var zs(slice(z0, 1, 0, 2)), l3(zeros({2}, DType::F64));
    sp.reverse(zs, l3, draw);
    CHECK(zs.shape() == Shape{2, 4, 3, 3});
    Tensor want = normal({2, 2, 3, 3}, 0.0, 0.5, DType::F64, Device::cpu(), &g2);
    CHECK(max_abs_diff(slice(zs.value(), 1, 2, 4), want) == 0.0);
  }
}

TEST_CASE("gradcheck through a whole coupling layer (f64)") {
  auto layer = random_coupling(2, channel_mask(2), Arch::V2, false, 41);
  layer->to(DType::F64);
  auto params = layer->parameters();
  ag::GradcheckOptions o;
  o.max_elements = 12;
  Tensor z = randn({2, 2, 3, 3}, DType::F64);
  auto r = ag::gradcheck([&](const std::vector<Var>& v) {
    Var zz = v[0], l(zeros({2}, DType::F64));
    layer->forward(zz, l);
    return ag::concat({ag::reshape(zz, {-1}), l}, 0);
  }, {z}, o);
  INFO(r.message);
  CHECK(r.ok);
  Generator g(5);
  Tensor proj = randn({2 * 2 * 3 * 3}, DType::F64, Device::cpu(), &g);
  std::string bad = fg::flows::testing::check_param_grads(*layer, [&] {
    Var zz(z), l(zeros({2}, DType::F64));
    layer->forward(zz, l);
    return ag::sum(ag::reshape(zz, {-1}) * Var(proj)) + ag::sum(l);
  });
  CHECK_MESSAGE(bad.empty(), bad);
}
