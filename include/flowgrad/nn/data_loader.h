// DataLoader: seeded shuffling, batching, drop_last and one-batch-ahead background prefetch over
// in-memory CPU tensors (e.g. MNIST images U8 [N,1,28,28] and labels U8 [N]).
//
// Order: epoch e uses epoch_permutation(N, seed, e) (identity when shuffle is off), a pure function
// of (seed, epoch), so a run resumed at epoch e, batch k (set_epoch(e, k)) sees exactly the batches
// the original run would have seen. Typical use:
//   for (int64_t e = start_epoch; e < epochs; ++e) {
//     loader.set_epoch(e);                       // or set_epoch(e, k) to resume mid-epoch
//     for (const Batch& b : loader) { ... b.images, b.labels, b.index ... }
//   }
// Starting a new pass without set_epoch after a completed pass moves on to the next epoch.
// Data parallel: with set_shard(rank, world), every batch is rank's rows of the global batch
// (dist::split_batch), so the ranks together see exactly the batches of one process.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "flowgrad/tensor/tensor.h"

namespace fg::nn {

// A uniformly random permutation of 0..n-1: Fisher–Yates driven by std::mt19937_64(seed), with
// bounded draws by rejection sampling (not std::uniform_int_distribution, whose output differs
// between standard libraries), so the result is the same on every platform.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);
// The permutation for one epoch: seeded_permutation(n, mix(seed, epoch)) with a splitmix64 mix.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);
// Rows idx[i] of a CPU tensor's first dimension, gathered into a new contiguous tensor
// [idx.size(), ...] of the same dtype. Throws naming `what` if an index is out of range.
Tensor gather_rows(const Tensor& t, const int64_t* idx, int64_t count, const char* what = "gather_rows");
inline Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& idx, const char* what = "gather_rows") {
  return gather_rows(t, idx.data(), static_cast<int64_t>(idx.size()), what);
}

struct Batch {
  Tensor images;      // [b, ...] rows of the images tensor, same dtype
  Tensor labels;      // [b] (or [b, ...]); undefined when the loader has no labels
  int64_t index = 0;  // batch index within the epoch
  int64_t epoch = 0;
  int64_t global_rows = 0;  // rows of the whole batch over all ranks (b without a shard)
};

class DataLoader {
 public:
  // images: CPU tensor [N, ...]; labels: undefined or CPU tensor [N, ...]. batch_size > 0.
  // prefetch = false builds each batch on the calling thread (simpler to debug).
  DataLoader(Tensor images, Tensor labels, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
             bool prefetch = true);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // This rank's rows of every batch (rank 0 of 1: the whole batch). Throws when a batch could
  // leave a rank without rows.
  void set_shard(int rank, int world);
  int64_t size() const { return n_; }  // examples in the data set
  int64_t batch_size() const { return batch_; }
  int64_t num_batches() const;              // per epoch, honoring drop_last
  int64_t epoch() const { return epoch_; }  // the epoch of the current (or next) pass
  uint64_t seed() const { return seed_; }
  const std::vector<int64_t>& order() const { return order_; }  // this epoch's example order

  // Selects the epoch for the next pass and the batch it starts at (0 <= start_batch <= num_batches).
  // Discards any batch prefetched for a pass that ended early.
  void set_epoch(int64_t epoch, int64_t start_batch = 0);
  // Next batch of the current pass; false when the pass is over. Starts a pass if none is running.
  bool next(Batch& out);
  // Restarts the pass at the batch given to set_epoch (after a completed pass: the next epoch).
  void reset();

  class Iterator {
   public:
    using value_type = Batch;
    Iterator() = default;
    explicit Iterator(DataLoader* dl) : dl_(dl) { ++*this; }
    const Batch& operator*() const { return b_; }
    const Batch* operator->() const { return &b_; }
    Iterator& operator++() {
      if (dl_ && !dl_->next(b_)) dl_ = nullptr;
      return *this;
    }
    bool operator==(const Iterator& o) const { return dl_ == o.dl_; }
    bool operator!=(const Iterator& o) const { return dl_ != o.dl_; }

   private:
    DataLoader* dl_ = nullptr;
    Batch b_;
  };
  Iterator begin() {
    reset();
    return Iterator(this);
  }
  Iterator end() { return Iterator(); }

 private:
  Batch make_batch(int64_t index) const;
  void start_pass();
  void cancel_prefetch();  // waits until the worker is idle and drops what it produced
  void request(int64_t index);
  void worker_loop();

  Tensor images_, labels_;
  int64_t n_ = 0, batch_ = 1;
  bool shuffle_ = false, drop_last_ = false, prefetch_ = true;
  uint64_t seed_ = 0;
  int shard_rank_ = 0, shard_world_ = 1;

  int64_t epoch_ = 0, start_batch_ = 0, cursor_ = 0;
  bool in_pass_ = false, pass_done_ = false;
  std::vector<int64_t> order_;
  int64_t order_epoch_ = -1;

  // worker state, guarded by m_
  std::thread worker_;
  std::mutex m_;
  std::condition_variable cv_;
  int64_t want_ = -1;  // batch requested from the worker
  bool busy_ = false, stop_ = false, have_ = false;
  Batch ready_;
  std::exception_ptr error_;
};

}  // namespace fg::nn
