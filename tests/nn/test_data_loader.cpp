// DataLoader: every example once per epoch, labels stay with their images, the order is a pure
// function of (seed, epoch) so resuming at (epoch, batch) replays the same batches, prefetching
// gives the same batches as building them inline, and early exits shut down cleanly.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "flowgrad/nn/data_loader.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;
using nn::Batch;
using nn::DataLoader;

namespace {

// n examples [n, 2, 3] I32 whose every element is the example index; labels [n] = index % 10
struct Toy {
  Tensor images, labels;
  explicit Toy(int64_t n) {
    std::vector<int32_t> v;
    std::vector<uint8_t> l;
    for (int64_t i = 0; i < n; ++i) {
      for (int k = 0; k < 6; ++k) v.push_back(static_cast<int32_t>(i));
      l.push_back(static_cast<uint8_t>(i % 10));
    }
    images = from_vector<int32_t>(v, {n, 2, 3});
    labels = from_vector<uint8_t>(l, {n});
  }
};

// The example ids of one pass, batch by batch
std::vector<std::vector<int32_t>> pass(DataLoader& dl) {
  std::vector<std::vector<int32_t>> out;
  for (const Batch& b : dl) {
    std::vector<int32_t> ids;
    auto v = b.images.to_vector<int32_t>();
    for (size_t i = 0; i < v.size(); i += 6) ids.push_back(v[i]);
    out.push_back(ids);
  }
  return out;
}

}  // namespace

TEST_CASE("seeded_permutation: a permutation, deterministic in the seed") {
  auto p = nn::seeded_permutation(1000, 42);
  auto s = p;
  std::sort(s.begin(), s.end());
  for (int64_t i = 0; i < 1000; ++i) CHECK(s[i] == i);
  CHECK(nn::seeded_permutation(1000, 42) == p);
  CHECK(nn::seeded_permutation(1000, 43) != p);
  CHECK(nn::epoch_permutation(1000, 42, 0) != nn::epoch_permutation(1000, 42, 1));
  CHECK(nn::seeded_permutation(0, 1).empty());
  CHECK(nn::seeded_permutation(1, 1) == std::vector<int64_t>{0});
  // pinned values: the permutation must not change between versions or platforms
  CHECK(nn::seeded_permutation(8, 42) == std::vector<int64_t>{7, 0, 5, 1, 2, 4, 3, 6});
}

TEST_CASE("DataLoader: each epoch visits every example once; labels follow images; last batch is short") {
  Toy toy(23);
  DataLoader dl(toy.images, toy.labels, 5, true, false, 7);
  CHECK(dl.num_batches() == 5);
  dl.set_epoch(0);
  std::multiset<int32_t> seen;
  int64_t count = 0;
  for (const Batch& b : dl) {
    CHECK(b.index == count++);
    CHECK(b.epoch == 0);
    CHECK(b.images.dtype() == DType::I32);
    CHECK(b.images.size(0) == (b.index < 4 ? 5 : 3));
    CHECK(b.images.shape()[1] == 2);
    auto v = b.images.to_vector<int32_t>();
    auto l = b.labels.to_vector<int32_t>();
    REQUIRE(l.size() * 6 == v.size());
    for (size_t i = 0; i < l.size(); ++i) {
      CHECK(l[i] == v[i * 6] % 10);
      seen.insert(v[i * 6]);
    }
  }
  CHECK(count == 5);
  CHECK(seen.size() == 23);
  CHECK(std::set<int32_t>(seen.begin(), seen.end()).size() == 23);
}

TEST_CASE("DataLoader: drop_last, no shuffle, no labels") {
  Toy toy(23);
  DataLoader dl(toy.images, Tensor(), 5, false, true, 0);
  CHECK(dl.num_batches() == 4);
  auto p = pass(dl);
  REQUIRE(p.size() == 4);
  CHECK(p[0] == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK(p[3] == std::vector<int32_t>{15, 16, 17, 18, 19});
  Batch b;
  dl.set_epoch(0);
  REQUIRE(dl.next(b));
  CHECK(!b.labels.defined());
  DataLoader small(toy.images, toy.labels, 50, true, true, 0);
  CHECK(small.num_batches() == 0);
  CHECK(pass(small).empty());
}

TEST_CASE("DataLoader: the order is a function of (seed, epoch); passes without set_epoch advance") {
  Toy toy(40);
  DataLoader a(toy.images, toy.labels, 8, true, false, 123);
  DataLoader b(toy.images, toy.labels, 8, true, false, 123);
  a.set_epoch(3);
  b.set_epoch(3);
  auto pa = pass(a), pb = pass(b);
  CHECK(pa == pb);
  b.set_epoch(4);
  auto pb4 = pass(b);
  CHECK(pb4 != pa);
  auto pa4 = pass(a);  // a finished epoch 3, so this pass is epoch 4
  CHECK(a.epoch() == 4);
  CHECK(pa4 == pb4);
  DataLoader c(toy.images, toy.labels, 8, true, false, 124);
  c.set_epoch(3);
  CHECK(pass(c) != pa);
}

TEST_CASE("DataLoader: set_epoch(e, k) resumes mid-epoch with the same batches") {
  Toy toy(37);
  DataLoader dl(toy.images, toy.labels, 4, true, false, 9);
  dl.set_epoch(2);
  auto full = pass(dl);
  REQUIRE(full.size() == 10);
  DataLoader resumed(toy.images, toy.labels, 4, true, false, 9);
  resumed.set_epoch(2, 6);
  Batch b;
  int64_t k = 6;
  while (resumed.next(b)) {
    CHECK(b.index == k);
    auto v = b.images.to_vector<int32_t>();
    std::vector<int32_t> ids;
    for (size_t i = 0; i < v.size(); i += 6) ids.push_back(v[i]);
    CHECK(ids == full[k]);
    ++k;
  }
  CHECK(k == 10);
  resumed.set_epoch(2, 10);  // resuming exactly at the end is an empty pass
  CHECK(!resumed.next(b));
  CHECK_THROWS_WITH_AS(resumed.set_epoch(2, 11), doctest::Contains("start batch 11 out of range [0, 10]"), Error);
}

TEST_CASE("DataLoader: prefetching gives the same batches as building them inline") {
  Toy toy(50);
  DataLoader p(toy.images, toy.labels, 7, true, false, 5, true);
  DataLoader q(toy.images, toy.labels, 7, true, false, 5, false);
  for (int e = 0; e < 3; ++e) {
    p.set_epoch(e);
    q.set_epoch(e);
    CHECK(pass(p) == pass(q));
  }
}

TEST_CASE("DataLoader: leaving an epoch early, restarting and destroying mid-epoch are clean") {
  Toy toy(100);
  for (int rep = 0; rep < 20; ++rep) {
    DataLoader dl(toy.images, toy.labels, 3, true, false, rep);
    dl.set_epoch(0);
    Batch b;
    REQUIRE(dl.next(b));
    CHECK(b.index == 0);
    dl.set_epoch(1);  // discards the prefetched batch 1 of epoch 0
    REQUIRE(dl.next(b));
    CHECK(b.epoch == 1);
    CHECK(b.index == 0);
    int n = 0;
    for (const Batch& x : dl) {  // begin() restarts epoch 1
      CHECK(x.epoch == 1);
      if (++n == 2) break;
    }
    // destructor runs with a batch prefetched
  }
}

TEST_CASE("DataLoader: bad arguments are reported") {
  Toy toy(10);
  CHECK_THROWS_WITH_AS(DataLoader(toy.images, toy.labels, 0, true, false, 0), doctest::Contains("batch size"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(toy.images, from_vector<uint8_t>({1, 2}, {2}), 2, true, false, 0),
                       doctest::Contains("10 images but labels have shape [2]"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(Tensor(), Tensor(), 2, true, false, 0), doctest::Contains("undefined"), Error);
  int64_t bad[1] = {10};
  CHECK_THROWS_WITH_AS(nn::gather_rows(toy.images, bad, 1), doctest::Contains("index 10 out of range"), Error);
}
