// MNIST directory resolution, split loading and validation, and the seeded train/val split.
#include "flowgrad/nn/mnist.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "flowgrad/nn/data_loader.h"
#include "flowgrad/nn/idx.h"
#include "flowgrad/tensor/error.h"

namespace fg::nn {
namespace fs = std::filesystem;

namespace {
constexpr const char* kFetchHint =
    "get MNIST with tools/fetch_mnist (writes data/mnist), or pass --data DIR or set FLOWGRAD_MNIST (or MNIST_DIR) "
    "to a directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte (raw or .gz)";
}

std::string find_mnist_file(const std::string& dir, const std::string& stem, const std::string& idx) {
  std::error_code ec;
  for (const std::string& name : {stem + "-" + idx + "-ubyte", stem + "." + idx + "-ubyte"}) {
    for (const char* ext : {"", ".gz"}) {
      fs::path p = fs::path(dir) / (name + ext);
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  }
  return "";
}

std::string resolve_mnist_dir(const std::string& flag_value) {
  struct Choice {
    std::string dir, source;
  };
  const char* env1 = std::getenv("FLOWGRAD_MNIST");
  const char* env2 = std::getenv("MNIST_DIR");
  Choice pick;
  if (!flag_value.empty())
    pick = {flag_value, "--data"};
  else if (env1 && *env1)
    pick = {env1, "FLOWGRAD_MNIST"};
  else if (env2 && *env2)
    pick = {env2, "MNIST_DIR"};
  else
    pick = {"data/mnist", "the default"};
  auto quoted = [](const char* v, const char* absent) {
    return v && *v ? fmt::format("'{}'", v) : std::string(absent);
  };
  std::string tried_list =
      fmt::format("--data {}, FLOWGRAD_MNIST {}, MNIST_DIR {}, default data/mnist",
                  quoted(flag_value.c_str(), "(not given)"), quoted(env1, "(not set)"), quoted(env2, "(not set)"));
  std::error_code ec;
  FG_CHECK(fs::is_directory(pick.dir, ec), "MNIST directory '{}' (from {}) does not exist [in order: {}]; {}", pick.dir,
           pick.source, tried_list, kFetchHint);
  FG_CHECK(!find_mnist_file(pick.dir, "train-images", "idx3").empty(),
           "MNIST directory '{}' (from {}) has no train-images-idx3-ubyte[.gz] [in order: {}]; {}", pick.dir,
           pick.source, tried_list, kFetchHint);
  return pick.dir;
}

MnistData load_mnist(const std::string& dir, const std::string& split) {
  FG_CHECK(split == "train" || split == "test", "load_mnist: split must be 'train' or 'test', got '{}'", split);
  std::string prefix = split == "train" ? "train" : "t10k";
  std::string img_path = find_mnist_file(dir, prefix + "-images", "idx3");
  std::string lbl_path = find_mnist_file(dir, prefix + "-labels", "idx1");
  FG_CHECK(!img_path.empty(), "MNIST: {}-images-idx3-ubyte (or .gz) not found in '{}'; {}", prefix, dir, kFetchHint);
  FG_CHECK(!lbl_path.empty(), "MNIST: {}-labels-idx1-ubyte (or .gz) not found in '{}'; {}", prefix, dir, kFetchHint);

  Tensor images = read_idx(img_path);
  FG_CHECK(images.dim() == 3 && images.size(1) == 28 && images.size(2) == 28,
           "{}: MNIST images must have shape [N, 28, 28], the file has {}", img_path, shape_str(images.shape()));
  Tensor labels = read_idx(lbl_path);
  FG_CHECK(labels.dim() == 1, "{}: MNIST labels must have shape [N], the file has {}", lbl_path,
           shape_str(labels.shape()));
  FG_CHECK(labels.size(0) == images.size(0), "MNIST {}: {} has {} images but {} has {} labels", split, img_path,
           images.size(0), lbl_path, labels.size(0));
  const uint8_t* l = labels.data<uint8_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    FG_CHECK(l[i] < 10, "{}: label {} at index {} is not a digit 0..9", lbl_path, int{l[i]}, i);
  return {images.reshape({images.size(0), 1, 28, 28}), labels};
}

std::pair<MnistData, MnistData> split_train_val(const MnistData& data, int64_t n_train, uint64_t seed) {
  int64_t n = data.size();
  FG_CHECK(n_train >= 0 && n_train <= n, "split_train_val: n_train {} out of range [0, {}]", n_train, n);
  FG_CHECK(!data.labels.defined() || data.labels.size(0) == n, "split_train_val: {} images but {} labels", n,
           data.labels.defined() ? data.labels.size(0) : 0);
  std::vector<int64_t> perm = seeded_permutation(n, seed);
  auto take = [&](int64_t lo, int64_t hi) {
    MnistData d;
    d.images = gather_rows(data.images, perm.data() + lo, hi - lo, "split_train_val");
    if (data.labels.defined()) d.labels = gather_rows(data.labels, perm.data() + lo, hi - lo, "split_train_val");
    return d;
  };
  return {take(0, n_train), take(n_train, n)};
}

}  // namespace fg::nn
