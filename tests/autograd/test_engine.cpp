// The backward engine: accumulation, no-grad mode, detach, freed graphs, deep graphs.
#include <doctest/doctest.h>

#include "flowgrad/autograd/functional.h"

using namespace fg;
using namespace fg::ag;

TEST_CASE("gradients accumulate over uses and over backward calls") {
  Var x(from_vector<double>({1, 2, 3}, {3}), true);
  Var y = sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 5, 7});
  Var y2 = sum(x * 2.0);
  y2.backward();  // accumulates into the leaf
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("NoGradGuard records nothing; detach cuts the graph") {
  Var x(ones({2}, DType::F64), true);
  {
    NoGradGuard ng;
    Var y = x * 3.0;
    CHECK(!y.requires_grad());
  }
  Var z = (x * 3.0).detach() * x;
  CHECK(z.requires_grad());
  sum(z).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 3});
}

TEST_CASE("a freed graph refuses a second backward; retain_graph allows it") {
  Var x(ones({2}, DType::F64), true);
  Var y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  CHECK(x.grad().to_vector<double>()[0] == doctest::Approx(2 * std::exp(1.0)));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), Error);
}

TEST_CASE("inputs without requires_grad get no gradient") {
  Var a(ones({2}, DType::F64), true), b(ones({2}, DType::F64), false);
  sum(a * b).backward();
  CHECK(a.grad().defined());
  CHECK(!b.grad().defined());
  CHECK_THROWS_WITH_AS(sum(b * b).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("a 20000-op deep chain runs without recursion") {
  Var x(from_vector<double>({1.0}, {1}), true);
  Var y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0001;
  sum(y).backward();
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 20000)).epsilon(1e-9));
}

TEST_CASE("diamond graph sums both paths") {
  Var x(from_vector<double>({2.0}, {1}), true);
  Var a = x * 3.0, b = square(x);
  sum(a * b).backward();  // d(3x^3)/dx = 9x^2 = 36
  CHECK(x.grad().item() == doctest::Approx(36.0));
}

TEST_CASE("LeafGradHook: each reached leaf once, when its gradient is final; the last layer's first") {
  Var w1(from_vector<double>({2, 3}, {2}), true), w2(from_vector<double>({5}, {1}), true);
  Var unused(ones({1}, DType::F64), true), input(from_vector<double>({1, -1}, {2}), false);
  Var h = input * w1 + w1 * w1;  // w1 used three times: final only after every use ran
  Var y = sum(h) * w2;
  std::vector<const VarImpl*> order;
  std::vector<std::vector<double>> grad_then;
  {
    LeafGradHook hook([&](const VarImpl* leaf) {
      order.push_back(leaf);
      grad_then.push_back(leaf->grad.to_vector<double>());
    });
    y.backward();
  }
  REQUIRE(order.size() == 2);  // not `unused`, not the input (needs no gradient)
  CHECK(order[0] == w2.impl());
  CHECK(order[1] == w1.impl());
  CHECK(grad_then[1] == w1.grad().to_vector<double>());  // nothing was added after the call
  CHECK(grad_then[0] == w2.grad().to_vector<double>());
  CHECK(LeafGradHook::current() == nullptr);
  // grad() (a vector-Jacobian product) runs no hook
  int calls = 0;
  LeafGradHook hook([&](const VarImpl*) { ++calls; });
  Var z = sum(w1 * w1);
  grad({z}, {w1}, {});
  CHECK(calls == 0);
  (void)unused;
}
