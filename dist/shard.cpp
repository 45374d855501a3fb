// Batch splits, the ShardedStep scope, and the global sums and gathers layers use inside it.
#include "flowgrad/dist/shard.h"

#include "flowgrad/tensor/error.h"
#include "flowgrad/tensor/ops.h"

namespace fg::dist {

namespace {
thread_local const ShardedStep* t_step = nullptr;
}  // namespace

BatchSplit split_batch(int64_t global, int rank, int world) {
  FG_CHECK(world >= 1 && rank >= 0 && rank < world, "split_batch: rank {} of a world of {}", rank, world);
  FG_CHECK(global >= world, "a global batch of {} cannot be split over {} ranks: each needs at least one example",
           global, world);
  const int64_t first = global * rank / world, end = global * (rank + 1) / world;
  return {first, end - first, global};
}

ShardedStep::ShardedStep(Communicator& c, int64_t global_rows)
    : comm_(c),
      split_(split_batch(global_rows, c.rank(), c.size())),
      draws_(BatchShard{split_.first, split_.rows, split_.global}),
      prev_(t_step) {
  t_step = this;
}

ShardedStep::~ShardedStep() { t_step = prev_; }

const ShardedStep* ShardedStep::current() { return t_step; }

bool ShardedStep::distributed() { return t_step && t_step->comm().size() > 1; }

Tensor global_sum(const Tensor& t, const std::string& what) {
  if (!ShardedStep::distributed()) return t;
  Tensor out = t.contiguous().clone();
  t_step->comm().allreduce(out, ReduceOp::Sum, what);
  return out;
}

Tensor allgather_rows(const Tensor& t, const std::string& what) {
  if (!ShardedStep::distributed()) return t;
  const BatchSplit& s = t_step->split();
  FG_CHECK(t.dim() >= 1 && t.size(0) == s.rows, "{}: this rank holds rows [{}, {}) of the batch, got a tensor of shape {}",
           what, s.first, s.first + s.rows, shape_str(t.shape()));
  return t_step->comm().allgather(t, what);
}

uint64_t checksum(const std::vector<Tensor>& ts) {
  uint64_t h = 1469598103934665603ull;
  for (const Tensor& t : ts) {
    Tensor c = t.contiguous().to(Device::cpu());
    const auto* p = static_cast<const unsigned char*>(c.raw());
    for (size_t i = 0; i < c.nbytes(); ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  }
  return h;
}

}  // namespace fg::dist
