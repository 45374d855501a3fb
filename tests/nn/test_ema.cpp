// nn::EMA (nn/ema.cpp): the average's update rule, a skipped step, swapping, and its state.
#include <doctest/doctest.h>

#include "flowgrad/nn/ema.h"
#include "flowgrad/nn/layers.h"

using namespace fg;

TEST_CASE("EMA: starts at the first update's weights, then shadow = d shadow + (1 - d) param; a skipped step keeps it") {
  nn::Linear m(3, 2);
  m.to(DType::F64);
  nn::EMA ema(m, 0.75);
  CHECK(!ema.started());
  const Tensor w0 = m.weight.value().clone();
  ema.update();  // first: a copy
  CHECK(ema.started());
  CHECK(max_abs_diff(ema.state_dict().at("weight"), w0) == 0.0);
  ag::Var w = m.weight;
  w.mutable_value() = w0 + 1.0;
  ema.update();
  CHECK(max_abs_diff(ema.state_dict().at("weight"), w0 + 0.25) < 1e-15);
  w.mutable_value() = w0 + 5.0;
  const Tensor skipped = scalar(1.0, DType::F64), taken = scalar(0.0, DType::F64);
  ema.update(&skipped);
  CHECK(max_abs_diff(ema.state_dict().at("weight"), w0 + 0.25) < 1e-15);
  ema.update(&taken);
  CHECK(max_abs_diff(ema.state_dict().at("weight"), w0 + (0.75 * 0.25 + 0.25 * 5.0)) < 1e-14);
  // evaluating with the average swaps it in for the scope
  {
    nn::EmaScope averaged(&ema);
    CHECK(max_abs_diff(m.weight.value(), w0 + 1.4375) < 1e-14);
  }
  CHECK(max_abs_diff(m.weight.value(), w0 + 5.0) == 0.0);
  // state round trip into another EMA of the same model; a wrong shape is refused by name
  nn::EMA other(m, 0.75);
  other.load_state_dict(ema.state_dict());
  CHECK(max_abs_diff(other.state_dict().at("bias"), ema.state_dict().at("bias")) == 0.0);
  auto bad = ema.state_dict();
  bad["weight"] = zeros({2, 2}, DType::F64);
  CHECK_THROWS_WITH_AS(other.load_state_dict(bad), doctest::Contains("'weight' has shape [2, 2]"), Error);
  CHECK_THROWS_WITH_AS(nn::EMA(m, 1.0), doctest::Contains("decay must be in [0, 1)"), Error);
}
