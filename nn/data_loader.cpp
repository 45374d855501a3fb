// DataLoader: permutations, row gathering and the one-batch-ahead prefetch worker. The worker only
// reads images_/labels_/order_; order_ changes only while the worker is idle (cancel_prefetch).
#include "flowgrad/nn/data_loader.h"

#include <cstring>
#include <random>

#include "flowgrad/dist/shard.h"
#include "flowgrad/tensor/error.h"

namespace fg::nn {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, range) by rejection: accept x >= (2^64 mod range) so every residue is equally likely.
uint64_t bounded(std::mt19937_64& rng, uint64_t range) {
  uint64_t threshold = (0 - range) % range;
  for (;;) {
    uint64_t x = rng();
    if (x >= threshold) return x % range;
  }
}

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  FG_CHECK(n >= 0, "seeded_permutation: negative size {}", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[bounded(rng, static_cast<uint64_t>(i) + 1)]);
  return p;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  return seeded_permutation(n, splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch))));
}

Tensor gather_rows(const Tensor& t, const int64_t* idx, int64_t count, const char* what) {
  FG_CHECK(t.defined(), "{}: undefined tensor", what);
  FG_CHECK(t.device().is_cpu(), "{}: tensor is on {}, expected cpu", what, t.device().str());
  FG_CHECK(t.dim() >= 1, "{}: tensor of shape {} has no rows", what, shape_str(t.shape()));
  int64_t rows = t.size(0);
  Shape s = t.shape();
  s[0] = count;
  Tensor out = Tensor::empty(s, t.dtype());
  if (count == 0 || rows == 0) return out;
  size_t row_bytes = t.nbytes() / static_cast<size_t>(rows);
  auto* dst = static_cast<unsigned char*>(out.raw());
  const auto* src = static_cast<const unsigned char*>(t.raw());
  for (int64_t i = 0; i < count; ++i) {
    FG_CHECK(idx[i] >= 0 && idx[i] < rows, "{}: index {} out of range for {} rows", what, idx[i], rows);
    std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, row_bytes);
  }
  return out;
}

DataLoader::DataLoader(Tensor images, Tensor labels, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
                       bool prefetch)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      batch_(batch_size),
      shuffle_(shuffle),
      drop_last_(drop_last),
      prefetch_(prefetch),
      seed_(seed) {
  FG_CHECK(images_.defined(), "DataLoader: images tensor is undefined");
  FG_CHECK(images_.device().is_cpu(), "DataLoader: images are on {}, expected cpu", images_.device().str());
  FG_CHECK(images_.dim() >= 1, "DataLoader: images of shape {} have no example dimension", shape_str(images_.shape()));
  FG_CHECK(batch_ > 0, "DataLoader: batch size must be positive, got {}", batch_);
  n_ = images_.size(0);
  if (labels_.defined()) {
    FG_CHECK(labels_.device().is_cpu(), "DataLoader: labels are on {}, expected cpu", labels_.device().str());
    FG_CHECK(labels_.dim() >= 1 && labels_.size(0) == n_, "DataLoader: {} images but labels have shape {}", n_,
             shape_str(labels_.shape()));
  }
  if (prefetch_) worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

int64_t DataLoader::num_batches() const {
  return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_;
}

void DataLoader::set_shard(int rank, int world) {
  cancel_prefetch();
  const int64_t smallest = drop_last_ || n_ % batch_ == 0 ? batch_ : n_ % batch_;
  dist::split_batch(std::min(batch_, smallest), rank, world);  // throws when a rank would get no rows
  shard_rank_ = rank;
  shard_world_ = world;
  in_pass_ = false;
}

Batch DataLoader::make_batch(int64_t index) const {
  int64_t lo = index * batch_, hi = std::min(lo + batch_, n_);
  Batch b;
  b.global_rows = hi - lo;
  if (shard_world_ > 1) {
    const dist::BatchSplit s = dist::split_batch(hi - lo, shard_rank_, shard_world_);
    lo += s.first;
    hi = lo + s.rows;
  }
  b.images = gather_rows(images_, order_.data() + lo, hi - lo, "DataLoader images");
  if (labels_.defined()) b.labels = gather_rows(labels_, order_.data() + lo, hi - lo, "DataLoader labels");
  b.index = index;
  b.epoch = order_epoch_;
  return b;
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || want_ >= 0; });
    if (stop_) return;
    int64_t index = want_;
    want_ = -1;
    busy_ = true;
    lk.unlock();
    Batch b;
    std::exception_ptr err;
    try {
      b = make_batch(index);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    busy_ = false;
    if (err)
      error_ = err;
    else
      ready_ = std::move(b);
    have_ = !err;
    cv_.notify_all();
  }
}

void DataLoader::cancel_prefetch() {
  if (!prefetch_) return;
  std::unique_lock<std::mutex> lk(m_);
  want_ = -1;
  cv_.wait(lk, [this] { return !busy_; });
  have_ = false;
  ready_ = Batch();
  error_ = nullptr;
}

void DataLoader::request(int64_t index) {
  {
    std::lock_guard<std::mutex> lk(m_);
    want_ = index;
    have_ = false;
  }
  cv_.notify_all();
}

void DataLoader::set_epoch(int64_t epoch, int64_t start_batch) {
  FG_CHECK(epoch >= 0, "DataLoader::set_epoch: negative epoch {}", epoch);
  FG_CHECK(start_batch >= 0 && start_batch <= num_batches(),
           "DataLoader::set_epoch: start batch {} out of range [0, {}] ({} examples, batch size {}{})", start_batch,
           num_batches(), n_, batch_, drop_last_ ? ", drop_last" : "");
  cancel_prefetch();
  epoch_ = epoch;
  start_batch_ = start_batch;
  in_pass_ = false;
  pass_done_ = false;
}

void DataLoader::reset() {
  cancel_prefetch();
  in_pass_ = false;
}

void DataLoader::start_pass() {
  cancel_prefetch();
  if (pass_done_) {  // the previous pass ran to the end and nobody chose an epoch: move on
    ++epoch_;
    start_batch_ = 0;
    pass_done_ = false;
  }
  if (order_epoch_ != epoch_ || static_cast<int64_t>(order_.size()) != n_) {
    if (shuffle_) {
      order_ = epoch_permutation(n_, seed_, epoch_);
    } else {
      order_.resize(static_cast<size_t>(n_));
      for (int64_t i = 0; i < n_; ++i) order_[i] = i;
    }
    order_epoch_ = epoch_;
  }
  cursor_ = start_batch_;
  in_pass_ = true;
  if (prefetch_ && cursor_ < num_batches()) request(cursor_);
}

bool DataLoader::next(Batch& out) {
  if (!in_pass_) start_pass();
  if (cursor_ >= num_batches()) {
    in_pass_ = false;
    pass_done_ = true;
    return false;
  }
  if (!prefetch_) {
    out = make_batch(cursor_++);
    return true;
  }
  {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [this] { return have_ || error_ != nullptr; });
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      in_pass_ = false;
      std::rethrow_exception(e);
    }
    out = std::move(ready_);
    ready_ = Batch();
    have_ = false;
  }
  FG_CHECK(out.index == cursor_, "DataLoader: internal error, prefetched batch {} but batch {} is due", out.index,
           cursor_);
  ++cursor_;
  if (cursor_ < num_batches()) request(cursor_);
  return true;
}

}  // namespace fg::nn
