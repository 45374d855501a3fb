// GradReducer: buckets, the per-parameter hook, and the unpacking of the reduced buckets.
#include "flowgrad/dist/reducer.h"

#include <algorithm>
#include <chrono>

#include "flowgrad/tensor/error.h"

namespace fg::dist {

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

GradReducer::GradReducer(Communicator& c, std::vector<ag::Var> params, ReducerOptions o)
    : comm_(c), params_(std::move(params)), o_(o), bucket_of_(params_.size()), ready_(params_.size()) {
  FG_CHECK(o.bucket_bytes > 0 && o.first_bucket_bytes > 0, "GradReducer: bucket sizes must be positive");
  o_.first_bucket_bytes = o.first_bucket_bytes = std::min(o.first_bucket_bytes, o.bucket_bytes);
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const ag::Var& p = params_[k];
    FG_CHECK(p.requires_grad(), "GradReducer: parameter {} does not require grad", k);
    index_[p.impl()] = k;
    const int64_t pb = p.numel() * static_cast<int64_t>(dtype_size(p.dtype()));
    const int64_t cap = buckets_.size() <= 1 ? o.first_bucket_bytes : o.bucket_bytes;  // of the bucket being filled
    bool fresh = buckets_.empty();
    if (!fresh) {
      const ag::Var& head = params_[buckets_.back().params.front()];
      fresh = head.dtype() != p.dtype() || head.device() != p.device() || bytes + pb > cap;
    }
    if (fresh) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += pb;
  }
}

std::vector<std::vector<size_t>> GradReducer::bucket_params() const {
  std::vector<std::vector<size_t>> out;
  for (const Bucket& b : buckets_) out.push_back(b.params);
  return out;
}

void GradReducer::queue(Bucket& b) {
  std::vector<Tensor> parts;
  parts.reserve(b.params.size());
  for (size_t k : b.params) {
    const ag::Var& p = params_[k];
    parts.push_back(p.grad().defined() ? flatten(p.grad(), 0) : zeros({p.numel()}, p.dtype(), p.device()));
  }
  b.flat = parts.size() == 1 ? parts[0].contiguous().clone() : concat(parts, 0);
  b.work = comm_.allreduce_async(b.flat, ReduceOp::Sum, "grad bucket " + std::to_string(&b - buckets_.data()));
  if (in_backward_) ++timing_.queued_during_backward;
}

void GradReducer::queue_ready_buckets() {
  while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].params.size()) queue(buckets_[next_++]);
}

void GradReducer::on_ready(size_t k) {
  if (ready_[k]) return;
  ready_[k] = true;
  ++buckets_[bucket_of_[k]].ready;
  queue_ready_buckets();
}

Tensor GradReducer::backward(const ag::Var& loss, double share) {
  FG_CHECK(loss.numel() == 1, "GradReducer: the loss must be a scalar, got {}", shape_str(loss.shape()));
  timing_ = {};
  timing_.buckets = static_cast<int>(buckets_.size());
  for (Bucket& b : buckets_) {
    b.ready = 0;
    b.flat = Tensor();
    b.work.reset();
  }
  std::fill(ready_.begin(), ready_.end(), false);
  next_ = 0;
  // the loss first: every rank queues it before any bucket
  Tensor global_loss = (loss.value().to(DType::F64) * share).reshape({1}).contiguous();
  std::shared_ptr<Work> loss_work = comm_.allreduce_async(global_loss, ReduceOp::Sum, "loss");
  const auto t0 = std::chrono::steady_clock::now();
  {
    in_backward_ = true;
    std::unique_ptr<ag::LeafGradHook> hook;
    if (o_.overlap)
      hook = std::make_unique<ag::LeafGradHook>([this](const ag::VarImpl* leaf) {
        if (auto it = index_.find(leaf); it != index_.end()) on_ready(it->second);
      });
    loss.backward(full_like(loss.value(), share));
    in_backward_ = false;
  }
  timing_.backward = since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < params_.size(); ++k) on_ready(k);  // unused parameters, and all without overlap
  for (Bucket& b : buckets_) {
    b.work->wait();
    int64_t at = 0;
    for (size_t k : b.params) {
      ag::Var& p = params_[k];
      const int64_t n = p.numel();
      p.set_grad(slice(b.flat, 0, at, at + n).reshape(p.shape()));
      at += n;
    }
  }
  loss_work->wait();
  timing_.wait = since(t1);
  for (Bucket& b : buckets_) timing_.reduce += b.work->seconds();
  for (Bucket& b : buckets_) b.work.reset();
  return global_loss.reshape({});
}

}  // namespace fg::dist
