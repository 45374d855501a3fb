// Class conditioning (flows/conditional.h and the conditioned layers): one-hot labels refused out
// of range; the ClassPrior's density against its formula and its gradient reaching the class
// parameters; conditioned coupling layers (GatedConvNet and Glow's) invertible with forward log-dets
// equal to the brute-force log|det J| for every class; a conditioned split; the generative
// classifier's scores equal log p(x | y) per class; and a short MNIST run whose own class-k
// samples its Bayes classifier labels k far above chance.
#include <doctest/doctest.h>

#include <cmath>

#include "flow_testing.h"
#include "test_support.h"
#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/continuous/image_fm.h"
#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/flows/multiscale.h"
#include "flowgrad/nn/data_loader.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/nn/optim.h"

using namespace fg;
using namespace fg::flows;
using fg::flows::testing::randomize;

namespace {

Var onehot_of(int64_t n, int64_t label, int64_t k = 3) {
  return Var(one_hot(full_labels(n, label), k, DType::F64, Device::cpu()));
}

// example 0's forward log-det and output of a layer under a label
double ldj_of(Flow& f, const Tensor& z0, const Var& oh, Tensor* out = nullptr) {
  ag::NoGradGuard ng;
  Var z(z0), ldj(zeros({z0.size(0)}, z0.dtype()));
  FlowArgs a;
  a.label = &oh;
  f.forward(z, ldj, a);
  if (out) *out = z.value();
  return ldj.value().to_vector<double>()[0];
}

// invertible, log-det = brute force for each class, and the class changes the output
void check_per_class(Flow& layer, const Tensor& z, int64_t k) {
  Tensor prev;
  for (int64_t y = 0; y < k; ++y) {
    INFO("class ", y);
    Var oh = onehot_of(1, y, k);
    FlowArgs a;
    a.label = &oh;
    RoundTrip rt = round_trip(layer, z, a);
    CHECK(rt.max_err < 1e-11);
    CHECK(rt.ldj_reverse == doctest::Approx(-rt.ldj_forward).epsilon(1e-12));
    double bf = brute_force_logdet(layer, z, a);
    CHECK(rt.ldj_forward == doctest::Approx(bf).epsilon(1e-9));
    Tensor out;
    ldj_of(layer, z, oh, &out);
    if (prev.defined()) CHECK(max_abs_diff(out, prev) > 1e-3);  // the label matters
    prev = out;
  }
}

}  // namespace

TEST_CASE("one_hot: rows of the labels; a label outside the classes is refused naming it") {
  Tensor oh = one_hot(from_vector<uint8_t>({2, 0, 1}, {3}), 3, DType::F64, Device::cpu());
  CHECK(oh.to_vector<double>() == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0});
  CHECK_THROWS_WITH_AS(one_hot(from_vector<uint8_t>({1, 10}, {2}), 10, DType::F32, Device::cpu(), "labels.idx"),
                       doctest::Contains("labels.idx: label 10 at index 1"), Error);
  CHECK(parse_conditioning("both") == Conditioning::Both);
  CHECK_THROWS_WITH_AS(parse_conditioning("yes"), doctest::Contains("none, prior, coupling or both"), Error);
}

TEST_CASE("ClassPrior: the class's diagonal Gaussian; the label changes it; gradients reach mean and log-scale") {
  ClassPrior prior(3, {2, 2, 2});
  prior.to(DType::F64);
  randomize(prior, 0.5, 3);
  Tensor z = randn({2, 2, 2, 2}, DType::F64);
  for (int64_t y = 0; y < 3; ++y) {
    ag::NoGradGuard ng;
    double got = prior.log_prob(Var(z), onehot_of(2, y)).value().to_vector<double>()[1];
    std::vector<double> m = slice(prior.mean.value(), 0, y, y + 1).to_vector<double>();
    std::vector<double> s = slice(prior.log_scale.value(), 0, y, y + 1).to_vector<double>();
    std::vector<double> zz = slice(z, 0, 1, 2).to_vector<double>();
    double want = 0;
    for (size_t i = 0; i < zz.size(); ++i) {
      double u = (zz[i] - m[i]) / std::exp(s[i]);
      want += -0.5 * u * u - s[i] - 0.9189385332046727;
    }
    CHECK(got == doctest::Approx(want).epsilon(1e-12));
  }
  {
    ag::NoGradGuard ng;
    CHECK(std::abs(prior.log_prob(Var(z), onehot_of(2, 0)).value().to_vector<double>()[0] -
                   prior.log_prob(Var(z), onehot_of(2, 1)).value().to_vector<double>()[0]) > 1e-3);
  }
  // gradient of the log density to the class parameters (central differences) and to z (gradcheck)
  Tensor labels = from_vector<int32_t>({2, 0}, {2});
  Var oh(one_hot(labels, 3, DType::F64, Device::cpu()));
  std::string bad = fg::flows::testing::check_param_grads(prior, [&] { return ag::sum(prior.log_prob(Var(z), oh)); });
  CHECK_MESSAGE(bad.empty(), bad);
  auto r = ag::gradcheck([&](const std::vector<Var>& v) { return prior.log_prob(v[0], oh); }, {z});
  INFO(r.message);
  CHECK(r.ok);
  // a class the labels never name gets no gradient
  prior.zero_grad();
  ag::sum(prior.log_prob(Var(z), oh)).backward();
  CHECK(max_abs_diff(slice(prior.mean.grad(), 0, 1, 2), zeros({1, 8}, DType::F64)) == 0.0);
  CHECK(max_abs_diff(slice(prior.mean.grad(), 0, 0, 1), zeros({1, 8}, DType::F64)) > 0.0);
}

TEST_CASE("conditioned coupling layers: invertible and exact log-det for every class; gradients reach the embedding") {
  SUBCASE("affine coupling with a class-conditioned GatedConvNet, both archs and masks") {
    for (Arch arch : {Arch::V1, Arch::V2})
      for (bool channel : {false, true}) {
        INFO("arch ", arch_name(arch), " channel ", channel);
        const int64_t c = channel ? 4 : 1;
        auto net = std::make_shared<GatedConvNet>(c, 8, 2 * c, arch, 1, 3);
        CouplingLayer layer(net, channel ? channel_mask(c) : checkerboard_mask(4, 4), c);
        randomize(layer, 0.3, 13 + channel);
        layer.to(DType::F64);
        check_per_class(layer, randn({1, c, 4, 4}, DType::F64), 3);
        // without labels a conditioned coupling refuses to run
        Var z(randn({1, c, 4, 4}, DType::F64)), l(zeros({1}, DType::F64));
        CHECK_THROWS_WITH_AS(layer.forward(z, l), doctest::Contains("needs one-hot labels"), Error);
      }
  }
  SUBCASE("Glow's coupling and step with a class embedding") {
    GlowCoupling gc(4, 8, 3);
    randomize(gc, 0.3, 17);
    gc.to(DType::F64);
    check_per_class(gc, randn({1, 4, 3, 3}, DType::F64), 3);
    GlowStep step(4, 8, true, 3);
    step.eval();  // no data-dependent ActNorm initialization between the checks
    randomize(step, 0.3, 19);
    step.to(DType::F64);
    check_per_class(step, randn({1, 4, 3, 3}, DType::F64), 3);
  }
  SUBCASE("gradcheck through a conditioned coupling, and the class embedding's gradient") {
    auto net = std::make_shared<GatedConvNet>(2, 8, 4, Arch::V2, 1, 3);
    CouplingLayer layer(net, channel_mask(2), 2);
    randomize(layer, 0.3, 23);
    layer.to(DType::F64);
    Tensor labels = from_vector<int32_t>({1, 2}, {2});
    Var oh(one_hot(labels, 3, DType::F64, Device::cpu()));
    FlowArgs a;
    a.label = &oh;
    ag::GradcheckOptions o;
    o.max_elements = 12;
    Tensor z = randn({2, 2, 3, 3}, DType::F64);
    auto r = ag::gradcheck([&](const std::vector<Var>& v) {
      Var zz = v[0], l(zeros({2}, DType::F64));
      layer.forward(zz, l, a);
      return ag::concat({ag::reshape(zz, {-1}), l}, 0);
    }, {z}, o);
    INFO(r.message);
    CHECK(r.ok);
    Generator g(5);
    Tensor proj = randn({2 * 2 * 3 * 3}, DType::F64, Device::cpu(), &g);
    std::string bad = fg::flows::testing::check_param_grads(layer, [&] {
      Var zz(z), l(zeros({2}, DType::F64));
      layer.forward(zz, l, a);
      return ag::sum(ag::reshape(zz, {-1}) * Var(proj)) + ag::sum(l);
    });
    CHECK_MESSAGE(bad.empty(), bad);
    Var emb;
    for (auto& [name, p] : layer.named_parameters())
      if (name.find("class_embedding") != std::string::npos) emb = p;
    REQUIRE(emb.defined());
    CHECK(max_abs_diff(emb.grad(), zeros_like(emb.grad())) > 0.0);
  }
}

TEST_CASE("ClassPrior::init_from: each class's mean of its rows, the spread pooled over classes; a class without rows keeps its mean") {
  ClassPrior prior(3, {2});
  prior.to(DType::F64);
  Tensor z = from_vector<double>({1, 10, 3, 14, 5, 0, 7, 2, 9, 4}, {5, 2});
  prior.init_from(z, from_vector<uint8_t>({0, 0, 1, 1, 1}, {5}));
  CHECK(prior.mean.value().to_vector<double>() == std::vector<double>{2, 12, 7, 2, 0, 0});
  // squared deviations from the class means: element 0: 1 + 1 + 4 + 0 + 4 = 10, element 1: 4 + 4 + 4 + 0 + 4 = 16
  std::vector<double> s = prior.log_scale.value().to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    CHECK(s[2 * c] == doctest::Approx(0.5 * std::log(10.0 / 5)));
    CHECK(s[2 * c + 1] == doctest::Approx(0.5 * std::log(16.0 / 5)));
  }
}

TEST_CASE("a split under a ClassPrior adds the class's log-density and inverts with the kept latents") {
  auto prior = std::make_shared<ClassPrior>(3, Shape{2, 3, 3});
  SplitFlow split(prior);
  randomize(split, 0.5, 29);
  split.to(DType::F64);
  Tensor z0 = randn({2, 4, 3, 3}, DType::F64);
  for (int64_t y = 0; y < 3; ++y) {
    ag::NoGradGuard ng;
    Var oh = onehot_of(2, y);
    std::vector<Tensor> latents;
    FlowArgs a;
    a.label = &oh;
    a.latents = &latents;
    Var z(z0), ldj(zeros({2}, DType::F64));
    split.forward(z, ldj, a);
    Tensor want = prior->log_prob(Var(slice(z0, 1, 2, 4)), oh).value();
    CHECK(max_abs_diff(ldj.value(), want) < 1e-12);
    split.reverse(z, ldj, a);
    CHECK(max_abs_diff(z.value(), z0) == 0.0);
    CHECK(max_abs_diff(ldj.value(), zeros({2}, DType::F64)) < 1e-12);
  }
}

TEST_CASE("conditional models: log p(x | y) depends on y, class_log_probs gives it per class, labels are required") {
  for (const char* name : {"simple", "multiscale", "glow"})
    for (Conditioning c : {Conditioning::Prior, Conditioning::Coupling, Conditioning::Both}) {
      INFO(name, " ", conditioning_name(c));
      ModelConfig cfg;
      cfg.name = name;
      cfg.conditioning = c;
      if (std::string(name) == "glow") cfg.options = {{"glow_k", 1}, {"glow_hidden", 8}};
      manual_seed(3);
      auto model = build_model(cfg);
      CHECK(model->num_classes() == 10);
      randomize(*model, 0.02, 31);  // zero-initialized class parameters would make every class equal
      model->eval();
      Generator g(7);
      Tensor imgs = floor(uniform({2, 1, 28, 28}, 0, 256, DType::F32, Device::cpu(), &g)).to(DType::U8);
      ag::NoGradGuard ng;
      manual_seed(11);
      Tensor scores = model->class_log_probs(imgs, 1);
      REQUIRE(scores.shape() == Shape{2, 10});
      std::vector<double> s = scores.to(DType::F64).to_vector<double>();
      for (int64_t y : {0, 7}) {
        manual_seed(11);  // the same dequantization draw
        Tensor lab = full_labels(2, y);
        std::vector<double> lp = model->log_prob(imgs, &lab).value().to(DType::F64).to_vector<double>();
        CHECK(lp[0] == doctest::Approx(s[y]).epsilon(1e-5));
        CHECK(lp[1] == doctest::Approx(s[10 + y]).epsilon(1e-5));
      }
      CHECK(std::abs(s[0] - s[7]) > 1e-3);
      CHECK_THROWS_WITH_AS(model->log_prob(imgs), doctest::Contains("give the class labels"), Error);
      Tensor lab = full_labels(2, 3);
      SampleOptions so;
      Tensor x = model->sample(2, so, nullptr, &lab);
      CHECK(x.shape() == Shape{2, 1, 28, 28});
    }
  // the config round-trips through JSON; an unconditional config stays as it was
  ModelConfig cfg;
  cfg.name = "multiscale";
  cfg.conditioning = Conditioning::Prior;
  CHECK(config_from_json(config_to_json(cfg)) == cfg);
  CHECK(config_to_json(ModelConfig{}).find("conditional") == std::string::npos);
  auto plain = build_model(ModelConfig{});
  Tensor lab = full_labels(1, 0);
  CHECK_THROWS_WITH_AS(plain->log_prob(zeros({1, 1, 28, 28}, DType::U8), &lab), doctest::Contains("not class-conditional"),
                       Error);
}

TEST_CASE("a short conditional run on MNIST: its own class-k samples are classified as k far above chance" *
          doctest::skip(fg::test::needs_mnist("test_conditional"))) {
  nn::MnistData all = nn::load_mnist(fg::test::mnist_dir(), "train");
  Tensor imgs = slice(all.images, 0, 0, 4000), labels = slice(all.labels, 0, 0, 4000);
  manual_seed(1);
  ModelConfig cfg;
  cfg.name = "simple";
  cfg.conditioning = Conditioning::Both;
  auto model = build_model(cfg);
  model->init_class_priors(slice(imgs, 0, 0, 1000), slice(labels, 0, 0, 1000));  // as train_mnist does
  nn::Adam opt(model->parameters(), 2e-3);
  nn::DataLoader loader(imgs, labels, 32, true, true, 1);
  const int steps = 30;
  int step = 0;
  for (int epoch = 0; step < steps; ++epoch) {
    loader.set_epoch(epoch);
    nn::Batch b;
    while (step < steps && loader.next(b)) {
      opt.zero_grad();
      ag::Var loss = model->bpd(b.images, &b.labels);
      REQUIRE(std::isfinite(loss.item()));
      loss.backward();
      nn::clip_grad_norm(opt.params(), 1.0);
      opt.step();
      ++step;
    }
  }
  // 10 samples per class, then the model's own argmax_y log p(x | y)
  const int64_t per = 10, k = 10;
  std::vector<int32_t> y;
  for (int64_t c = 0; c < k; ++c)
    for (int64_t i = 0; i < per; ++i) y.push_back(static_cast<int32_t>(c));
  Tensor ys = from_vector(y, {per * k});
  Generator g(5);
  SampleOptions so;
  so.generator = &g;
  so.temperature = 0.8;
  Tensor samples = model->sample(per * k, so, nullptr, &ys);
  Tensor scores = model->class_log_probs(samples, 1).to(DType::F64);
  std::vector<double> s = scores.to_vector<double>();
  int right = 0;
  for (int64_t i = 0; i < per * k; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < k; ++c)
      if (s[i * k + c] > s[i * k + best]) best = c;
    right += best == y[static_cast<size_t>(i)];
  }
  const double acc = right / static_cast<double>(per * k);
  MESSAGE("own-sample accuracy after ", steps, " steps: ", acc, " (chance 0.1, threshold 0.5)");
  CHECK(acc >= 0.5);
  // and on 200 real test images (no threshold: reported)
  nn::MnistData test = nn::load_mnist(fg::test::mnist_dir(), "test");
  std::vector<double> ts = model->class_log_probs(slice(test.images, 0, 0, 200), 1).to(DType::F64).to_vector<double>();
  const uint8_t* ty = test.labels.data<uint8_t>();
  int test_right = 0;
  for (int64_t i = 0; i < 200; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < k; ++c)
      if (ts[i * k + c] > ts[i * k + best]) best = c;
    test_right += best == ty[i];
  }
  MESSAGE("test-image accuracy (200 images): ", test_right / 200.0);
}

TEST_CASE("conditional flow matching: the class embedding reaches the velocity and its gradient; labels required") {
  UNetVelocity v(8, 1, 3);
  randomize(v, 0.1, 37);
  v.to(DType::F64);
  Tensor x = randn({2, 1, 8, 8}, DType::F64);
  Var t(from_vector<double>({0.3, 0.7}, {2}));
  auto vel = [&](int64_t y) {
    v.set_labels(Var(one_hot(full_labels(2, y), 4, DType::F64, Device::cpu())));
    return v.velocity(Var(x), t);
  };
  {
    ag::NoGradGuard ng;
    CHECK(max_abs_diff(vel(0).value(), vel(3).value()) > 1e-4);  // class 0 against the null class
  }
  Generator g(3);
  Tensor proj = randn({2, 1, 8, 8}, DType::F64, Device::cpu(), &g);
  Tensor lab = from_vector<int32_t>({2, 1}, {2});
  v.set_labels(Var(one_hot(lab, 4, DType::F64, Device::cpu())));
  std::string bad = fg::flows::testing::check_param_grads(v, [&] { return ag::sum(v.velocity(Var(x), t) * Var(proj)); }, 2);
  CHECK_MESSAGE(bad.empty(), bad);
  v.zero_grad();
  ag::sum(v.velocity(Var(x), t) * Var(proj)).backward();
  Var emb;
  for (auto& [name, p] : v.named_parameters())
    if (name == "class_embedding") emb = p;
  REQUIRE(emb.defined());
  CHECK(max_abs_diff(slice(emb.grad(), 0, 1, 3), zeros({2, 32}, DType::F64)) > 0.0);  // the batch's classes
  CHECK(max_abs_diff(slice(emb.grad(), 0, 0, 1), zeros({1, 32}, DType::F64)) == 0.0);  // not class 0
  UNetVelocity plain_labels(8, 1, 3);
  CHECK_THROWS_WITH_AS(plain_labels.velocity(Var(randn({2, 1, 8, 8})), Var(zeros({2}))), doctest::Contains("set_labels"),
                       Error);
  // the model: labels required, a finite loss with label dropping, samples with guidance
  ImageFM fm(Matcher::OTCFM, 8, 0.0, {1, 8, 8}, 3, 0.5);
  Tensor imgs = zeros({4, 1, 8, 8}, DType::U8), y = from_vector<int32_t>({0, 1, 2, 1}, {4});
  CHECK(std::isfinite(fm.cond_loss(imgs, &y).item()));
  CHECK_THROWS_WITH_AS(fm.loss(imgs), doctest::Contains("give the class labels"), Error);
  SampleOptions so;
  so.solver.method = ode::Method::Euler;
  so.solver.steps = 2;
  so.guidance = 2.0;
  CHECK(fm.cond_generate(4, so, &y).shape() == Shape{4, 1, 8, 8});
}
