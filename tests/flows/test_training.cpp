// A short training run of the tutorial's `simple` flow on real MNIST (2,000 training images,
// 30 Adam steps of 32): the validation bpd must fall well below its starting value. Skipped, with
// a message, when MNIST is not present (tools/fetch_mnist; the README's set-up fetches it).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#include "flow_testing.h"
#include "test_support.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/nn/data_loader.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/nn/optim.h"
#include "flowgrad/tensor/counters.h"

using namespace fg;

namespace {

double val_bpd(flows::ImageFlow& m, const Tensor& val) {
  ag::NoGradGuard ng;
  return m.bpd(val).item();
}
}  // namespace

TEST_CASE("training `simple` for 30 steps on 2,000 MNIST images lowers the validation bpd" *
          doctest::skip(fg::test::needs_mnist("test_training"))) {
  nn::MnistData all = nn::load_mnist(fg::test::mnist_dir(), "train");
  auto [train, val] = nn::split_train_val(all, 50000, 42);
  Tensor train_imgs = slice(train.images, 0, 0, 2000);
  Tensor val_imgs = slice(val.images, 0, 0, 256);
  manual_seed(1);
  auto model = flows::build_model({"simple"});
  nn::Adam opt(model->parameters(), 1e-3);
  nn::DataLoader loader(train_imgs, Tensor(), 32, true, true, 1);
  std::vector<double> curve{val_bpd(*model, val_imgs)};
  int step = 0;
  for (int epoch = 0; step < 30; ++epoch) {
    loader.set_epoch(epoch);
    nn::Batch b;
    while (step < 30 && loader.next(b)) {
      opt.zero_grad();
      ag::Var loss = model->bpd(b.images);
      REQUIRE(std::isfinite(loss.item()));
      loss.backward();
      nn::clip_grad_norm(opt.params(), 1.0);
      opt.step();
      if (++step % 10 == 0) curve.push_back(val_bpd(*model, val_imgs));
    }
  }
  std::string shown;
  for (double v : curve) shown += fmt::format(" {:.3f}", v);
  MESSAGE("validation bpd at steps 0, 10, 20, 30:", shown);
  CHECK(curve.back() < 0.5 * curve.front());
  CHECK(curve.back() < 3.5);
  CHECK(curve.back() < curve[1]);
}

TEST_CASE("a training step of every model reads nothing back to the host (after ActNorm's init)") {
  // The device-side step: a GPU run of these models never waits for the device inside a step.
  for (const char* name : {"simple", "vardeq", "multiscale", "glow"}) {
    manual_seed(2);
    auto model = flows::build_model({name});
    nn::Adam opt(model->parameters(), 1e-3);
    Tensor imgs = floor(uniform({4, 1, 28, 28}, 0, 256));
    for (int step = 0; step < 2; ++step) {
      Counters c0 = counters();
      opt.zero_grad();
      nn::StepResult r = nn::optimizer_step(model->bpd(imgs), opt, 1.0);
      Counters c1 = counters();
      if (step == 1) {
        INFO(name);
        CHECK(c1.host_reads == c0.host_reads);
        MESSAGE(std::string(name), ": ", c1.launches - c0.launches, " kernel launches per step, 0 host reads");
      }
      (void)r;
    }
  }
}
