// Loads a checkpoint written by train_mnist, computes the test bits per dimension of the first
// test images, and writes a grid of samples.
// Usage: evaluate_checkpoint CHECKPOINT [MNIST_DIR] [OUT_PNG]  (defaults: $FLOWGRAD_MNIST, samples.png)
#include <cstdio>

#include <flowgrad/flowgrad.h>

using namespace fg;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: evaluate_checkpoint CHECKPOINT [MNIST_DIR] [OUT_PNG]\n");
    return 2;
  }
  const std::string out = argc > 3 ? argv[3] : "samples.png";
  flows::LoadedModel lm = flows::load_model(argv[1]);  // the config in the file says what to build
  std::printf("%s: %s (%s), %ld parameters\n", argv[1], lm.config.name.c_str(), lm.model->family(),
              static_cast<long>(lm.model->num_parameters()));
  nn::MnistData test = nn::load_mnist(nn::resolve_mnist_dir(argc > 2 ? argv[2] : ""), "test");
  Tensor imgs = slice(test.images, 0, 0, 32);
  manual_seed(0);  // the dequantization noise
  const double bpd = mean(lm.model->test_bpd(imgs, /*samples=*/4)).item();
  std::printf("test bpd over %ld images: %.4f\n", static_cast<long>(imgs.size(0)), bpd);
  flows::SampleOptions so;
  so.temperature = 0.8;
  nn::write_image_grid(out, lm.model->generate(16, so), /*nrow=*/4, /*scale=*/3);
  std::printf("wrote %s\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "evaluate_checkpoint: %s\n", e.what());
  return 1;
}
