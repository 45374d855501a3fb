// The tutorial's models: parameter counts, the closed-form bpd of an untrained model, sampling,
// interpolation, and gradients through a whole small flow.
#include <doctest/doctest.h>

#include <cmath>

#include "flow_testing.h"
#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/flows/multiscale.h"

using namespace fg;
using namespace fg::flows;

TEST_CASE("every registered model's parameter count equals its reference's (tutorial v1 and v2, peer, U-Net)") {
  for (Arch arch : {Arch::V1, Arch::V2})
    for (const char* name : {"simple", "vardeq", "multiscale", "glow", "fm", "ot-cfm"}) {  // the built-in entries
      const ModelEntry& e = model_entry(name);
      ModelConfig cfg{e.name, arch};
      auto m = build_image_model(cfg);
      INFO(e.name, " ", arch_name(arch));
      REQUIRE(e.reference_params(cfg) > 0);
      CHECK(m->num_parameters() == e.reference_params(cfg));
    }
  CHECK(model_entry("simple").reference_params({"simple", Arch::V1}) == 335128);
  CHECK(model_entry("multiscale").reference_params({"multiscale", Arch::V2}) == 1711818);
  CHECK_THROWS_WITH_AS(build_model({"glowish"}), doctest::Contains("unknown model 'glowish': expected one of simple,"),
                       Error);
}

TEST_CASE("the registry: families, options with defaults and ranges, configs through JSON, user models") {
  CHECK(model_names(Family::Coupling) == std::vector<std::string>{"simple", "vardeq", "multiscale", "glow"});
  CHECK(model_names(Family::FlowMatching) == std::vector<std::string>{"fm", "ot-cfm"});
  ModelConfig glow{"glow"};
  CHECK(glow.option("glow_k") == 8);
  CHECK(glow == config_from_json(config_to_json(glow)));
  glow.options["glow_k"] = 2;
  CHECK(glow != ModelConfig{"glow"});
  CHECK(config_from_json(config_to_json(glow)).int_option("glow_k") == 2);
  CHECK_THROWS_WITH_AS(ModelConfig{"simple"}.option("glow_k"), doctest::Contains("model 'simple' has no option 'glow_k'"),
                       Error);
  glow.options["glow_k"] = 0;
  CHECK_THROWS_WITH_AS(build_model(glow), doctest::Contains("glow_k = 0 is outside"), Error);
  ModelConfig stray{"simple"};
  stray.options["glow_k"] = 4;
  CHECK_THROWS_WITH_AS(build_model(stray), doctest::Contains("has no option 'glow_k'"), Error);
  // a model defined outside flowgrad: every tool that reads the registry knows it
  register_model({"tiny-test", "one coupling", Family::Coupling,
                  [](const ModelConfig& c) -> std::shared_ptr<ImageModel> {
                    std::vector<FlowPtr> flows{std::make_shared<CouplingLayer>(
                        std::make_shared<GatedConvNet>(1, c.int_option("width"), 2, Arch::V2, 1),
                        checkerboard_mask(28, 28), 1)};
                    return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(), flows, Shape{1, 28, 28});
                  },
                  {{"width", 4, 1, 64, true, "hidden channels"}}});
  CHECK_THROWS_WITH_AS(register_model({"tiny-test", "again", Family::Coupling, model_entry("tiny-test").build}),
                       doctest::Contains("already registered"), Error);
  ModelConfig tiny = config_from_json(R"({"model": "tiny-test", "width": 8})");
  CHECK(tiny.int_option("width") == 8);
  CHECK(build_model(tiny)->num_parameters() > 0);
  CHECK(model_names().back() == "tiny-test");
}

TEST_CASE("latent shapes: simple keeps 1x28x28, multiscale ends at 8x7x7") {
  CHECK(build_model({"simple"})->latent_shape(3) == Shape{3, 1, 28, 28});
  CHECK(build_model({"multiscale"})->latent_shape(3) == Shape{3, 8, 7, 7});
}

// All couplings start as the identity (zero last conv), so for the tutorial's models (v2)
//   log p(x) = sum_i [log N(z_i) + log(1-a) - log y_i - log(1-y_i)] - D log 256,
//   y_i = (x_i + u_i)/256 (1-a) + a/2, z_i = logit(y_i)
// with u the dequantization noise; the split's log-density is part of the sum over all dims.
TEST_CASE("bpd of an untrained model equals its closed form") {
  Generator data_gen(3);
  Tensor imgs = floor(uniform({2, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &data_gen)).to(DType::I32);
  for (const auto& name : model_names(Family::Coupling)) {
    if (name == "glow") continue;  // not the identity at init: ActNorm and sigmoid(r + 2) scale
    auto m = build_model({name, Arch::V2});
    m->to(DType::F64);
    manual_seed(77);
    double bpd = m->bpd(imgs).item();
    manual_seed(77);
    auto u = rand(imgs.shape(), DType::F64).to_vector<double>();
    auto x = imgs.to_vector<double>();
    const double a = 1e-5, D = 784.0;
    double total = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      double y = (x[i] + u[i]) / 256.0 * (1 - a) + a / 2, z = std::log(y) - std::log(1 - y);
      total += -0.5 * z * z - 0.5 * std::log(2 * M_PI) + std::log(1 - a) - std::log(y) - std::log(1 - y);
    }
    total -= 2 * D * std::log(256.0);
    double expect = -total / 2 * std::log2(std::exp(1.0)) / D;
    INFO(name);
    CHECK(bpd == doctest::Approx(expect).epsilon(1e-9));
  }
}

TEST_CASE("samples are integer images in [0, 255] of the right shape; temperature and z_init work") {
  manual_seed(5);
  for (const auto& name : model_names(Family::Coupling)) {
    auto m = build_model({name, Arch::V2});
    SampleOptions cold;
    cold.temperature = 0.8;
    Tensor s = m->sample(3, cold);
    CHECK(s.shape() == Shape{3, 1, 28, 28});
    CHECK(s.dtype() == DType::I32);
    auto v = s.to_vector<int32_t>();
    CHECK(*std::min_element(v.begin(), v.end()) >= 0);
    CHECK(*std::max_element(v.begin(), v.end()) <= 255);
  }
  auto m = build_model({"simple"});
  Tensor z = randn(m->latent_shape(2));
  CHECK(max_abs_diff(m->sample(2, {}, &z).to(DType::F64), m->sample(2, {}, &z).to(DType::F64)) == 0.0);
}

TEST_CASE("encode then decode returns the images (f64, exact)") {
  Generator gen(8);
  Tensor imgs = floor(uniform({2, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  for (const auto& name : {"simple", "vardeq"}) {
    auto m = build_model({name, Arch::V2});
    testing::randomize(*m, 0.05, 9);  // couplings away from the identity
    m->to(DType::F64);
    ag::NoGradGuard ng;
    Tensor z = m->encode(imgs).z.value();
    Tensor back = m->decode(z);
    INFO(name);
    CHECK(max_abs_diff(back.to(DType::F64), imgs.to(DType::F64)) == 0.0);
  }
}

TEST_CASE("interpolation rows start and end at the encoded images") {
  auto m = build_model({"simple"});
  m->to(DType::F64);
  Generator gen(10);
  Tensor a = floor(uniform({1, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  Tensor b = floor(uniform({1, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  Tensor rows = m->interpolate(a, b, 5);
  CHECK(rows.shape() == Shape{5, 1, 28, 28});
  CHECK(max_abs_diff(slice(rows, 0, 0, 1).to(DType::F64), a.to(DType::F64)) == 0.0);
  CHECK(max_abs_diff(slice(rows, 0, 4, 5).to(DType::F64), b.to(DType::F64)) == 0.0);
}

TEST_CASE("importance-sampled bpd with one sample equals the plain bpd of the same noise") {
  auto m = build_model({"simple"});
  m->to(DType::F64);
  Generator gen(12);
  Tensor imgs = floor(uniform({3, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &gen)).to(DType::I32);
  manual_seed(4);
  double plain = m->bpd(imgs).item();
  manual_seed(4);
  double is1 = mean(m->importance_bpd(imgs, 1)).item();
  CHECK(is1 == doctest::Approx(plain).epsilon(1e-12));
  double is8 = mean(m->importance_bpd(imgs, 8)).item();
  CHECK(is8 <= plain + 0.01);  // logsumexp-mean bound: more samples never hurt much
}

TEST_CASE("gradients through a whole small multiscale flow (f64, central differences)") {
  // dequantization + checkerboard coupling + squeeze + channel coupling + split on 1x4x4 images
  auto dq = std::make_shared<Dequantization>();
  std::vector<FlowPtr> flows;
  flows.push_back(std::make_shared<CouplingLayer>(std::make_shared<GatedConvNet>(1, 4, 2, Arch::V2, 1),
                                                  checkerboard_mask(4, 4), 1));
  flows.push_back(std::make_shared<SqueezeFlow>());
  flows.push_back(std::make_shared<CouplingLayer>(std::make_shared<GatedConvNet>(4, 4, 8, Arch::V1, 1),
                                                  channel_mask(4), 4));
  flows.push_back(std::make_shared<SplitFlow>());
  ImageFlow model(dq, flows, {1, 4, 4});
  testing::randomize(model, 0.2, 13);
  model.to(DType::F64);
  Tensor imgs = from_vector<int32_t>({0, 17, 255, 128, 3, 90, 200, 45, 66, 1, 250, 7, 31, 99, 160, 222}, {1, 1, 4, 4});
  Generator noise(1);
  std::string bad = testing::check_param_grads(model, [&] {
    noise.set_state(1, 0);  // the same dequantization noise in every evaluation
    dq->generator = &noise;
    return model.bpd(imgs);
  });
  CHECK_MESSAGE(bad.empty(), bad);
}

TEST_CASE("flow matching on images: an untrained model is the identity flow, so its bpd is N(0, I)'s in closed form") {
  // The U-Net's output conv starts at zero: v = 0, the ODE does not move, the divergence is 0 and
  //   log P(x) = sum_i log N(y_i; 0, 1) + D log(2 / 256),  y = 2 (x + u) / 256 - 1.
  manual_seed(8);
  auto m = build_image_model({"ot-cfm"});
  CHECK(std::string(m->family()) == "flow matching");
  CHECK(m->num_parameters() == 1106737);  // our U-Net (widths 48, 96, 96): a regression pin, no reference count
  Generator data_gen(9);
  Tensor imgs = floor(uniform({2, 1, 28, 28}, 0, 256, DType::F64, Device::cpu(), &data_gen)).to(DType::I32);
  manual_seed(78);
  double bpd = mean(m->test_bpd(imgs, 1)).item();
  manual_seed(78);
  auto u = rand(imgs.shape(), DType::F32).to_vector<double>();
  auto x = imgs.to_vector<double>();
  const double D = 784.0;
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double y = static_cast<float>((static_cast<float>(x[i]) + static_cast<float>(u[i])) * (2.0f / 256.0f) - 1.0f);
    total += -0.5 * y * y - 0.5 * std::log(2 * M_PI) + std::log(2.0 / 256.0);
  }
  double expect = -total / 2 / (D * std::log(2.0));
  CHECK(bpd == doctest::Approx(expect).epsilon(1e-6));
  // its training loss, samples and grids
  CHECK(std::isfinite(m->loss(imgs).item()));
  SampleOptions so;
  so.solver.method = ode::Method::Euler;
  so.solver.steps = 2;
  int64_t nfe = 0;
  so.nfe = &nfe;
  Tensor s = m->generate(3, so);
  CHECK(s.shape() == Shape{3, 1, 28, 28});
  CHECK(nfe == 2);
  CHECK_THROWS_WITH_AS(build_model({"fm"}), doctest::Contains("is a flow matching model, not a coupling or residual flow"), Error);
}
