// Gradient averaging for data-parallel training, as PyTorch DDP's Reducer. The parameters are
// grouped in reverse order (backward produces the last layers' gradients first) into buckets of
// about bucket_bytes, the first capped at first_bucket_bytes so that the first reduction starts
// early. backward(loss, share) runs backward from share * loss under a LeafGradHook: when the last
// gradient of a bucket is final, the bucket is packed into one flat tensor and its allreduce (sum)
// queued on the communicator, which reduces it while backward goes on. Buckets are queued in index
// order on every rank (the collectives must match): one that is ready early waits for those before
// it. After backward the rest are queued, all are waited for, and each parameter's gradient becomes
// its slice of its reduced bucket: the sum over ranks of share_r * grad_r, the gradient of the
// global batch's mean when share_r is rank r's part of the global batch. A parameter without a
// gradient on a rank contributes zeros there.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "flowgrad/autograd/var.h"
#include "flowgrad/dist/communicator.h"

namespace fg::dist {

struct ReducerOptions {
  int64_t bucket_bytes = 25 << 20;       // PyTorch DDP's bucket_cap_mb = 25
  int64_t first_bucket_bytes = 1 << 20;  // and its first bucket of 1 MB
  bool overlap = true;  // false: queue every bucket after backward (to measure what overlap gains)
};

// Of the last backward(), in seconds.
struct ReducerTiming {
  double backward = 0;  // backward itself, packing and queueing the buckets that became ready included
  double wait = 0;      // blocked after backward until every bucket was reduced and unpacked
  double reduce = 0;    // the bucket allreduces' own time on the communicator's thread, summed
  int buckets = 0, queued_during_backward = 0;
};

class GradReducer {
 public:
  GradReducer(Communicator& c, std::vector<ag::Var> params, ReducerOptions o = {});
  // Backward from share * loss with the gradients reduced over the ranks. Returns the global loss,
  // the sum over ranks of share * loss (0-d f64 on the loss's device), reduced alongside.
  Tensor backward(const ag::Var& loss, double share);
  const ReducerTiming& timing() const { return timing_; }
  // Parameter indices (into the constructor's list) of each bucket, in queueing order.
  std::vector<std::vector<size_t>> bucket_params() const;

 private:
  struct Bucket {
    std::vector<size_t> params;
    size_t ready = 0;
    Tensor flat;
    std::shared_ptr<Work> work;
  };
  void on_ready(size_t param);
  void queue_ready_buckets();  // in index order, as far as they are complete
  void queue(Bucket& b);

  Communicator& comm_;
  std::vector<ag::Var> params_;
  ReducerOptions o_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<bool> ready_;
  std::unordered_map<const ag::VarImpl*, size_t> index_;
  size_t next_ = 0;
  bool in_backward_ = false;
  ReducerTiming timing_;
};

}  // namespace fg::dist
