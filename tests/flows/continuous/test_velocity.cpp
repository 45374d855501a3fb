// The velocity fields' architectures: C2OT's SimpleNet (ResMLPVelocity) and torchcfm's runner MLP
// (MLPVelocity) by parameter count and names, and SimpleNet's output against its PyTorch twin.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/flows/continuous/velocity.h"

using namespace fg;
using namespace fg::flows;

TEST_CASE("ResMLPVelocity is C2OT's SimpleNet(2, 128, 3): 396,034 parameters, PyTorch's names, its outputs") {
  ResMLPVelocity net(2, 128, 3);
  CHECK(net.num_parameters() == 396034);  // C2OT prints 396.03K
  auto named = net.named_parameters();
  REQUIRE(named.size() == 18);
  CHECK(named[0].first == "input_proj.weight");
  CHECK(named[2].first == "time_emb.weight");
  CHECK(named[4].first == "blocks.0.linear1.weight");
  CHECK(named[4].second.shape() == Shape({512, 128}));
  CHECK(named[15].first == "blocks.2.linear2.bias");
  CHECK(named[16].first == "output_proj.weight");
  // deterministic weights, as tools/c2ot_simplenet_twin.py sets them; outputs printed by PyTorch
  net.to(DType::F64);
  for (size_t p = 0; p < named.size(); ++p) {
    Tensor& w = named[p].second.mutable_value();
    std::vector<double> v(w.numel());
    for (size_t k = 0; k < v.size(); ++k) v[k] = 0.08 * std::sin(0.37 * static_cast<double>(k) + 1.1 * static_cast<double>(p));
    w = from_vector(v, w.shape());
  }
  ag::NoGradGuard ng;
  Var x(from_vector<double>({0.5, -1.2, 3.0, 0.7, -2.0, -0.4}, {3, 2})), t(from_vector<double>({0.0, 0.3, 1.0}, {3}));
  auto y = net(x, t).value().to_vector<double>();
  const std::vector<double> torch_out{0.122278452617289,  -0.0822610998858208, -0.087801382809759,
                                      0.125665861272086,  -0.226488261895345,  0.289864620621699};
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(torch_out[i]).epsilon(1e-12));
}

TEST_CASE("MLPVelocity(2, 64) is torchcfm's runner VelocityNet [64, 64, 64] SELU: 8,706 parameters") {
  MLPVelocity net(2, 64);
  CHECK(net.num_parameters() == 8706);
  Var y = net(Var(zeros({5, 2})), Var(scalar(0.5, DType::F32)));
  CHECK(y.shape() == Shape({5, 2}));
}
