// MNIST: finding the data directory, loading a split, and the tutorial's train/validation split.
// Get the data with tools/fetch_mnist (into data/mnist), or point --data / FLOWGRAD_MNIST /
// MNIST_DIR at a directory holding the four IDX files (raw or .gz).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "flowgrad/tensor/tensor.h"

namespace fg::nn {

struct MnistData {
  Tensor images;  // U8 [N, 1, 28, 28], values 0..255
  Tensor labels;  // U8 [N], values 0..9
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// The MNIST directory: `flag_value` if not empty, else $FLOWGRAD_MNIST, else $MNIST_DIR, else
// "data/mnist". The chosen directory must exist and hold train-images (any accepted spelling);
// otherwise throws fg::Error listing what was tried and saying how to fetch the data.
std::string resolve_mnist_dir(const std::string& flag_value);

// The path of an MNIST file in `dir`, e.g. kind = "train-images" + "idx3": tries
// train-images-idx3-ubyte, train-images-idx3-ubyte.gz, train-images.idx3-ubyte, and .gz of that.
// Returns "" if none exists.
std::string find_mnist_file(const std::string& dir, const std::string& stem, const std::string& idx);

// split = "train" (60,000 examples) or "test" (the t10k files, 10,000). Checks that images are
// [N, 28, 28], labels [N] with the same N and values < 10; throws naming the file otherwise.
MnistData load_mnist(const std::string& dir, const std::string& split);

// The tutorial's split of the 60,000 training images into train (n_train = 50,000) and validation
// (the rest), using seeded_permutation(N, seed): Fisher–Yates with std::mt19937_64(seed). The first
// n_train indices of the permutation are the train subset, the others validation, each kept in
// permutation order. PyTorch's random_split(generator=manual_seed(42)) draws its permutation from
// torch's own Philox/MT stream (torch.randperm), which cannot be reproduced here, so the subsets
// differ from the PyTorch peer's; only their sizes and the fact that they are a fixed function of
// the seed agree.
std::pair<MnistData, MnistData> split_train_val(const MnistData& data, int64_t n_train, uint64_t seed = 42);

}  // namespace fg::nn
