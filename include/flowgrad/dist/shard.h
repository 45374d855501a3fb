// A rank's part of a global batch, and what layers need to compute over the global batch.
//   split_batch   rank r of K takes rows [N r / K, N (r + 1) / K) of a global batch of N
//   ShardedStep   for its scope (the forward pass of one global batch on this rank): random draws
//                 are keyed by the global sample index (tensor/random.h: BatchShard), and layers
//                 with batch-global work ask current() for the communicator and the split: ActNorm's
//                 data-dependent init (global_sum), OT-CFM's pairing (allgather_rows)
//   checksum      a 64-bit hash of tensors' bytes (ranks compare their parameters with it)
#pragma once
#include <string>
#include <vector>

#include "flowgrad/dist/communicator.h"
#include "flowgrad/tensor/random.h"

namespace fg::dist {

struct BatchSplit {
  int64_t first = 0, rows = 0, global = 0;
  // this rank's share of the global batch's mean: its rows over the global rows
  double share() const { return global > 0 ? static_cast<double>(rows) / static_cast<double>(global) : 0; }
};
// Throws when a rank would get no rows (a global batch smaller than the world).
BatchSplit split_batch(int64_t global, int rank, int world);

class ShardedStep {
 public:
  ShardedStep(Communicator& c, int64_t global_rows);
  ~ShardedStep();
  ShardedStep(const ShardedStep&) = delete;
  ShardedStep& operator=(const ShardedStep&) = delete;
  // The innermost ShardedStep of this thread, or null.
  static const ShardedStep* current();
  // True inside a ShardedStep of a world of more than one rank: batch statistics must be global.
  static bool distributed();
  Communicator& comm() const { return comm_; }
  const BatchSplit& split() const { return split_; }

 private:
  Communicator& comm_;
  BatchSplit split_;
  BatchShardScope draws_;
  const ShardedStep* prev_;
};

// t summed over the ranks of the current ShardedStep (t itself outside one or for one rank).
Tensor global_sum(const Tensor& t, const std::string& what);
// The global batch from each rank's rows of it, in rank order (t itself outside a ShardedStep).
Tensor allgather_rows(const Tensor& t, const std::string& what);

// FNV-1a over the tensors' bytes in order (a host read of each).
uint64_t checksum(const std::vector<Tensor>& ts);

}  // namespace fg::dist
