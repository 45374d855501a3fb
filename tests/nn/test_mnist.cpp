// MNIST: directory resolution order (--data, FLOWGRAD_MNIST, MNIST_DIR, data/mnist) and its error
// message, loading synthetic files in every accepted spelling, consistency checks, the seeded
// 50k/10k split; and, when the real data is present, the real counts.
#include <doctest/doctest.h>

#include "test_support.h"
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>

#include "io_test_util.h"
#include "flowgrad/nn/idx.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;
using fg::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Sets or unsets an environment variable for the scope, restoring it afterwards.
struct EnvVar {
  std::string name, old;
  bool had;
  EnvVar(const char* n, const char* v) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (v)
      ::setenv(n, v, 1);
    else
      ::unsetenv(n);
  }
  ~EnvVar() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

// Writes n fake 28x28 images (pixel = example index) and labels (index % 10) under the given names.
void write_fake(const TempDir& dir, const std::string& images_name, const std::string& labels_name, int64_t n,
                int64_t n_labels = -1) {
  std::vector<uint8_t> img, lab;
  for (int64_t i = 0; i < n; ++i) img.insert(img.end(), 28 * 28, static_cast<uint8_t>(i));
  for (int64_t i = 0; i < (n_labels < 0 ? n : n_labels); ++i) lab.push_back(static_cast<uint8_t>(i % 10));
  nn::write_idx(dir.file(images_name), from_vector<uint8_t>(img, {n, 28, 28}));
  nn::write_idx(dir.file(labels_name), from_vector<uint8_t>(lab, {static_cast<int64_t>(lab.size())}));
}

void gzip_file(const std::string& path) {
  auto b = fg::test::read_bytes(path);
  gzFile g = gzopen((path + ".gz").c_str(), "wb");
  REQUIRE(g != nullptr);
  gzwrite(g, b.data(), static_cast<unsigned>(b.size()));
  gzclose(g);
  fs::remove(path);
}

}  // namespace

TEST_CASE("resolve_mnist_dir: --data, then FLOWGRAD_MNIST, then MNIST_DIR; errors say how to fetch") {
  TempDir a, b, c;
  for (auto* d : {&a, &b, &c}) write_fake(*d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 2);
  {
    EnvVar e1("FLOWGRAD_MNIST", b.path.c_str()), e2("MNIST_DIR", c.path.c_str());
    CHECK(nn::resolve_mnist_dir(a.path.string()) == a.path.string());
    CHECK(nn::resolve_mnist_dir("") == b.path.string());
  }
  {
    EnvVar e1("FLOWGRAD_MNIST", nullptr), e2("MNIST_DIR", c.path.c_str());
    CHECK(nn::resolve_mnist_dir("") == c.path.string());
  }
  {
    EnvVar e1("FLOWGRAD_MNIST", "/nonexistent/mnist"), e2("MNIST_DIR", nullptr);
    try {
      nn::resolve_mnist_dir("");
      FAIL("expected an error");
    } catch (const Error& e) {
      std::string m = e.what();
      CHECK(m.find("/nonexistent/mnist") != std::string::npos);
      CHECK(m.find("from FLOWGRAD_MNIST") != std::string::npos);
      CHECK(m.find("MNIST_DIR (not set)") != std::string::npos);
      CHECK(m.find("tools/fetch_mnist") != std::string::npos);
    }
  }
  TempDir empty;
  CHECK_THROWS_WITH_AS(nn::resolve_mnist_dir(empty.path.string()), doctest::Contains("has no train-images"), Error);
}

TEST_CASE("load_mnist: raw, .gz and the train-images.idx3-ubyte spelling; [N,1,28,28] and [N]") {
  TempDir raw, gz, dot;
  write_fake(raw, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 12);
  write_fake(gz, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 7);
  gzip_file(gz.file("train-images-idx3-ubyte"));
  gzip_file(gz.file("train-labels-idx1-ubyte"));
  write_fake(dot, "train-images.idx3-ubyte", "train-labels.idx1-ubyte", 5);
  auto t = nn::load_mnist(raw.path.string(), "test");
  CHECK(t.images.shape() == Shape{12, 1, 28, 28});
  CHECK(t.labels.shape() == Shape{12});
  CHECK(t.images.data<uint8_t>()[11 * 784 + 300] == 11);
  CHECK(nn::load_mnist(gz.path.string(), "train").size() == 7);
  CHECK(nn::load_mnist(dot.path.string(), "train").size() == 5);
  CHECK_THROWS_WITH_AS(nn::load_mnist(raw.path.string(), "train"), doctest::Contains("train-images-idx3-ubyte"), Error);
  CHECK_THROWS_WITH_AS(nn::load_mnist(raw.path.string(), "val"), doctest::Contains("'train' or 'test'"), Error);
}

TEST_CASE("load_mnist: mismatched counts, wrong image shapes and bad labels are reported with the file") {
  TempDir d;
  write_fake(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 6, 5);
  CHECK_THROWS_WITH_AS(nn::load_mnist(d.path.string(), "train"), doctest::Contains("has 6 images but"), Error);
  nn::write_idx(d.file("t10k-images-idx3-ubyte"), zeros({3, 32, 32}, DType::U8));
  nn::write_idx(d.file("t10k-labels-idx1-ubyte"), zeros({3}, DType::U8));
  CHECK_THROWS_WITH_AS(nn::load_mnist(d.path.string(), "test"),
                       doctest::Contains("[N, 28, 28], the file has [3, 32, 32]"), Error);
  nn::write_idx(d.file("t10k-images-idx3-ubyte"), zeros({3, 28, 28}, DType::U8));
  nn::write_idx(d.file("t10k-labels-idx1-ubyte"), from_vector<uint8_t>({1, 12, 3}, {3}));
  CHECK_THROWS_WITH_AS(nn::load_mnist(d.path.string(), "test"), doctest::Contains("label 12 at index 1"), Error);
}

TEST_CASE("split_train_val: disjoint, complete, fixed by the seed, labels kept with images") {
  TempDir d;
  write_fake(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 100);
  auto data = nn::load_mnist(d.path.string(), "train");
  auto [tr, va] = nn::split_train_val(data, 80, 42);
  CHECK(tr.size() == 80);
  CHECK(va.size() == 20);
  std::set<int> ids;
  for (const auto* part : {&tr, &va}) {
    const uint8_t* im = part->images.data<uint8_t>();
    const uint8_t* lb = part->labels.data<uint8_t>();
    for (int64_t i = 0; i < part->size(); ++i) {
      ids.insert(im[i * 784]);
      CHECK(int{lb[i]} == im[i * 784] % 10);
    }
  }
  CHECK(ids.size() == 100);
  auto [tr2, va2] = nn::split_train_val(data, 80, 42);
  CHECK(tr2.images.to_vector<uint8_t>() == tr.images.to_vector<uint8_t>());
  auto [tr3, va3] = nn::split_train_val(data, 80, 43);
  CHECK(tr3.images.to_vector<uint8_t>() != tr.images.to_vector<uint8_t>());
  CHECK_THROWS_WITH_AS(nn::split_train_val(data, 101, 42), doctest::Contains("out of range"), Error);
}

TEST_CASE("real MNIST: 60,000 train and 10,000 test examples, the 50,000/10,000 split" *
          doctest::skip(fg::test::needs_mnist("test_mnist"))) {
  std::string dir = fg::test::mnist_dir();
  auto train = nn::load_mnist(dir, "train");
  auto test = nn::load_mnist(dir, "test");
  CHECK(train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  // well-known facts: the first training label is 5, the first test label is 7; 5923 zeros in train
  CHECK(train.labels.data<uint8_t>()[0] == 5);
  CHECK(test.labels.data<uint8_t>()[0] == 7);
  const uint8_t* l = train.labels.data<uint8_t>();
  CHECK(std::count(l, l + 60000, uint8_t{0}) == 5923);
  auto [tr, va] = nn::split_train_val(train, 50000, 42);
  CHECK(tr.size() == 50000);
  CHECK(va.size() == 10000);
}
