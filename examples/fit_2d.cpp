// Fits a RealNVP flow to a 2-D density defined here (a noisy ring) by maximum likelihood, then
// samples it. Prints the held-out NLL before and after training; exits 1 if it did not improve.
#include <cmath>
#include <cstdio>

#include <flowgrad/flowgrad.h>

using namespace fg;

// n points of a ring: radius 2 + N(0, 0.1^2), angle uniform
Tensor ring(int64_t n, Generator& g) {
  Tensor r = normal({n, 1}, 2.0, 0.1, DType::F32, Device::cpu(), &g);
  Tensor a = uniform({n, 1}, 0.0, 2 * M_PI, DType::F32, Device::cpu(), &g);
  return concat({r * cos(a), r * sin(a)}, 1);
}

int main() {
  manual_seed(0);  // initialization
  Generator data(1);
  flows::RealNVP2D flow(/*layers=*/8, /*hidden=*/64);
  nn::Adam opt(flow.parameters(), 1e-3);
  const Tensor test = ring(2000, data);
  const double before = flow.mean_nll(test);
  for (int step = 1; step <= 1500; ++step) {
    opt.zero_grad();
    ag::Var loss = flow.nll(ag::Var(ring(256, data)));  // mean -log p(x), nats
    loss.backward();
    opt.step();
    if (step % 500 == 0) std::printf("step %d  train nll %.3f\n", step, loss.item());
  }
  const double after = flow.mean_nll(test);
  std::printf("held-out nll: %.3f -> %.3f nats per point\n", before, after);
  Tensor s = flow.sample(2000);  // through the inverse flow
  const double radius = mean(sqrt(sum(square(s), {1}))).item();
  std::printf("samples: mean radius %.3f (the ring's is 2)\n", radius);
  return after < before - 1.0 && std::abs(radius - 2.0) < 0.2 ? 0 : 1;
}
