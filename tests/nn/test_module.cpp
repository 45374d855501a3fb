// Modules: parameter counts against PyTorch's formulas, names, summary, state dicts, init bounds,
// and layer outputs against the tensor ops they wrap.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/nn/init.h"
#include "flowgrad/nn/layers.h"

using namespace fg;
using namespace fg::nn;
using ag::Var;

TEST_CASE("parameter counts follow PyTorch's formulas") {
  CHECK(Linear(784, 128).num_parameters() == 784 * 128 + 128);
  CHECK(Linear(10, 3, false).num_parameters() == 30);
  CHECK(Conv2d(Conv2dConfig{3, 32, 3}).num_parameters() == 32 * 3 * 9 + 32);
  CHECK(Conv2d(Conv2dConfig{4, 8, 3, 1, 1, 1, 2}).num_parameters() == 8 * 2 * 9 + 8);  // groups 2
  CHECK(ConvTranspose2d(Conv2dConfig{64, 32, 4, 2, 1}).num_parameters() == 64 * 32 * 16 + 32);
  CHECK(LayerNorm(48).num_parameters() == 96);
  CHECK(LayerNorm(48, -1, 1e-5, false).num_parameters() == 0);
}

TEST_CASE("named parameters are dotted paths; summary lists every layer") {
  Sequential s({std::make_shared<Conv2d>(1, 4, 3, 1), nn::relu(), std::make_shared<LayerNorm>(4, 1)});
  auto names = s.named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "0.weight");
  CHECK(names[1].first == "0.bias");
  CHECK(names[3].first == "2.bias");
  std::string sum = s.summary();
  CHECK(sum.find("Conv2d(1 -> 4, 3x3, pad 1)") != std::string::npos);
  CHECK(sum.find("ReLU") != std::string::npos);
  CHECK(sum.find("total parameters: 48") != std::string::npos);
}

TEST_CASE("default init: weights and biases within +-1/sqrt(fan_in), roughly uniform") {
  manual_seed(5);
  Linear l(100, 400);
  double bound = 1.0 / std::sqrt(100.0);
  CHECK(amax(abs(l.weight.value())).item() <= bound);
  CHECK(amax(abs(l.weight.value())).item() > 0.95 * bound);
  CHECK(amax(abs(l.bias.value())).item() <= bound);
  // uniform(-b, b) has variance b^2/3
  double var = mean(square(l.weight.value())).item();
  CHECK(var == doctest::Approx(bound * bound / 3).epsilon(0.05));
  ConvTranspose2d t(Conv2dConfig{8, 6, 4, 2, 1});  // PyTorch's fan_in: 6 * 16
  CHECK(amax(abs(t.weight.value())).item() <= 1.0 / std::sqrt(96.0));
}

TEST_CASE("layers compute what their ops compute") {
  manual_seed(6);
  Linear l(3, 2);
  Tensor x = randn({4, 3});
  Tensor expect = matmul(x, transpose(l.weight.value(), 0, 1)) + l.bias.value();
  CHECK(max_abs_diff(l(Var(x)).value(), expect) < 1e-6);
  CHECK(l(Var(randn({2, 5, 3}))).shape() == Shape{2, 5, 2});
  CHECK_THROWS_WITH_AS(l(Var(randn({4, 5}))), doctest::Contains("input [4, 5] does not end in 3"), Error);
  Tensor img = randn({2, 3, 4, 4});
  Tensor ce = nn::concat_elu(Var(img)).value();
  CHECK(ce.shape() == Shape{2, 6, 4, 4});
  CHECK(max_abs_diff(slice(ce, 1, 3, 6), elu(neg(img), 1.0)) == 0.0);
  ConvTranspose2d up(Conv2dConfig{3, 5, 4, 2, 1});
  CHECK(up(Var(img)).shape() == Shape{2, 5, 8, 8});
}

TEST_CASE("state_dict round-trip and mismatch reporting") {
  manual_seed(7);
  Sequential a({std::make_shared<Linear>(3, 4), std::make_shared<Linear>(4, 2)});
  manual_seed(8);
  Sequential b({std::make_shared<Linear>(3, 4), std::make_shared<Linear>(4, 2)});
  b.load_state_dict(a.state_dict());
  Tensor x = randn({5, 3});
  CHECK(max_abs_diff(a(Var(x)).value(), b(Var(x)).value()) == 0.0);
  Sequential c({std::make_shared<Linear>(3, 5)});
  CHECK_THROWS_WITH_AS(c.load_state_dict(a.state_dict()),
                       doctest::Contains("'0.weight': expected f32 [5, 3], found f32 [4, 3]"), Error);
  CHECK_THROWS_WITH_AS(c.load_state_dict(a.state_dict()), doctest::Contains("unexpected '1.bias'"), Error);
  CHECK_THROWS_WITH_AS(c.load_state_dict({}), doctest::Contains("missing '0.bias'"), Error);
}
