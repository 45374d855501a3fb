// A coupling layer of your own, checked and trained inside the tutorial's multi-scale flow:
//   1. MyCoupling: an affine coupling over channel halves whose conditioner is a plain conv net;
//   2. its inverse and log-determinant checked against the brute-force Jacobian (f64);
//   3. the tutorial's multi-scale flow with MyCoupling at its last scale, trained on MNIST.
// Usage: custom_coupling [MNIST_DIR] (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)
#include <cmath>
#include <cstdio>

#include <flowgrad/flowgrad.h>

using namespace fg;
using ag::Var;

// z = [za, zb] -> [za, (zb + t) * exp(s)], (s, t) = net(za), s bounded by tanh; ldj += sum(s)
class MyCoupling : public flows::Flow {
 public:
  MyCoupling(int64_t c, int64_t hidden) : half_(c / 2) {
    auto last = std::make_shared<nn::Conv2d>(hidden, 2 * (c - half_), 3, 1);
    nn::zeros_(last->weight);  // starts as the identity
    nn::zeros_(last->bias);
    net_ = register_module("net", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
                                      std::make_shared<nn::Conv2d>(half_, hidden, 3, 1), nn::relu(),
                                      std::make_shared<nn::Conv2d>(hidden, hidden, 1), nn::relu(), last}));
  }
  std::string type_name() const override { return "MyCoupling"; }
  void forward(Var& z, Var& ldj, const flows::FlowArgs&) override { couple(z, ldj, +1); }
  void reverse(Var& z, Var& ldj, const flows::FlowArgs&) override { couple(z, ldj, -1); }

 private:
  void couple(Var& z, Var& ldj, int dir) {
    auto parts = ag::split(z, {half_, z.size(1) - half_}, 1);
    auto st = ag::chunk((*net_)(parts[0]), 2, 1);
    Var s = ag::tanh(st[0]), t = st[1];
    Var zb = dir > 0 ? (parts[1] + t) * ag::exp(s) : parts[1] * ag::exp(-s) - t;
    z = ag::concat({parts[0], zb}, 1);
    ldj = dir > 0 ? ldj + flows::sum_except_batch(s) : ldj - flows::sum_except_batch(s);
  }
  int64_t half_;
  std::shared_ptr<nn::Sequential> net_;
};

// The tutorial's multi-scale flow (flows/models.h) with the 4 couplings of its last scale ours
std::shared_ptr<flows::ImageFlow> multiscale_with_my_coupling() {
  using namespace flows;
  auto coupling = [](int64_t c, int64_t hidden, Tensor mask) -> FlowPtr {
    return std::make_shared<CouplingLayer>(std::make_shared<GatedConvNet>(c, hidden, 2 * c, Arch::V2), mask, c);
  };
  std::vector<FlowPtr> f;
  for (int i = 0; i < 2; ++i) f.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1)));
  f.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 2; ++i) f.push_back(coupling(4, 48, channel_mask(4, i % 2 == 1)));
  f.push_back(std::make_shared<SplitFlow>());
  f.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 4; ++i) f.push_back(std::make_shared<MyCoupling>(8, 64));
  return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(), f, Shape{1, 28, 28});
}

int main(int argc, char** argv) try {
  manual_seed(0);
  // 2. the layer alone, with random weights (zero-initialized it is the identity), in f64
  MyCoupling layer(4, 8);
  Generator g(1);
  for (Var p : layer.parameters()) nn::normal_(p, 0.0, 0.3, &g);
  layer.to(DType::F64);
  const Tensor z = randn({1, 4, 3, 3}, DType::F64);
  const flows::RoundTrip rt = flows::round_trip(layer, z);
  const double brute = flows::brute_force_logdet(layer, z);
  std::printf("MyCoupling: |reverse(forward(z)) - z| = %.1e, log-det %.9f, brute force %.9f\n", rt.max_err,
              rt.ldj_forward, brute);
  if (rt.max_err > 1e-10 || std::abs(rt.ldj_forward - brute) > 1e-8) return 1;

  // 3. a few training steps of the multi-scale flow on MNIST
  auto model = multiscale_with_my_coupling();
  std::printf("multiscale with MyCoupling: %ld parameters\n", static_cast<long>(model->num_parameters()));
  nn::MnistData train = nn::load_mnist(nn::resolve_mnist_dir(argc > 1 ? argv[1] : ""), "train");
  nn::DataLoader loader(train.images, Tensor(), 32, /*shuffle=*/true, /*drop_last=*/true, /*seed=*/0);
  nn::Adam opt(model->parameters(), 1e-3);
  double first = NAN, last = NAN;
  nn::Batch b;
  for (int step = 0; step < 30 && loader.next(b); ++step) {
    nn::StepResult r = nn::optimizer_step(model->bpd(b.images), opt, /*clip=*/1.0);  // bits per dimension
    last = r.loss.item();
    if (step == 0) first = last;
  }
  std::printf("training bpd: %.3f at the first step, %.3f at the 30th\n", first, last);
  return last < first ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "custom_coupling: %s\n", e.what());
  return 1;
}
