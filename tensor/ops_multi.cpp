// Multi-tensor ops: one kernel launch over a list of tensors (global-norm clipping's sum of
// squares and rescale, Adam's update). Lists must share one device; Adam updates in place, so its
// parameter and state tensors must be dense and not shared with other tensors.
#include "tensor/ops_check.h"

namespace fg {

namespace {
std::vector<const Tensor*> dense_list(const char* op, const std::vector<Tensor>& xs, std::vector<Tensor>& keep) {
  keep.clear();
  keep.reserve(xs.size());
  std::vector<const Tensor*> out;
  for (auto& x : xs) {
    detail::check_float(op, x);
    FG_CHECK(x.device() == xs[0].device(), "{}: tensors on {} and {}", op, xs[0].device().str(), x.device().str());
    keep.push_back(x.contiguous());
  }
  for (auto& k : keep) out.push_back(&k);
  return out;
}
}  // namespace

Tensor sum_of_squares(const std::vector<Tensor>& xs) {
  FG_CHECK(!xs.empty(), "sum_of_squares: no tensors given");
  std::vector<Tensor> keep;
  auto ptrs = dense_list("sum_of_squares", xs, keep);
  Tensor out = Tensor::empty({}, DType::F64, xs[0].device());
  launch(xs[0].device()).sum_of_squares(ptrs, out);
  return out;
}

std::vector<Tensor> scale_all(const std::vector<Tensor>& xs, const Tensor& factor) {
  if (xs.empty()) return {};
  FG_CHECK(factor.numel() == 1 && factor.device() == xs[0].device(),
           "scale_all: the factor must be one element on {}, got {} on {}", xs[0].device().str(),
           shape_str(factor.shape()), factor.device().str());
  std::vector<Tensor> keep, out;
  auto ptrs = dense_list("scale_all", xs, keep);
  std::vector<Tensor*> outs;
  for (auto& x : xs) out.push_back(Tensor::empty(x.shape(), x.dtype(), x.device()));
  for (auto& o : out) outs.push_back(&o);
  launch(xs[0].device()).scale_all(ptrs, factor.contiguous(), outs);
  return out;
}

void adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip) {
  const size_t n = t.params.size();
  FG_CHECK(t.grads.size() == n && t.exp_avg.size() == n && t.exp_avg_sq.size() == n,
           "adam_step: {} parameters but {} grads, {} and {} moments", n, t.grads.size(), t.exp_avg.size(),
           t.exp_avg_sq.size());
  FG_CHECK(step.dtype() == DType::F64 && step.numel() == 1 && step.is_contiguous(),
           "adam_step: the step count must be a one-element f64 tensor");
  if (n == 0) return;
  const Device d = t.params[0]->device();
  for (size_t i = 0; i < n; ++i) {
    const Tensor* all[] = {t.params[i], t.grads[i], t.exp_avg[i], t.exp_avg_sq[i]};
    for (const Tensor* x : all) {
      FG_CHECK(x->device() == d && x->dtype() == t.params[i]->dtype() && x->shape() == t.params[i]->shape() &&
                   x->is_contiguous(),
               "adam_step: parameter {} {}: its gradient and moments must be dense {} {} tensors on {}", i,
               shape_str(t.params[i]->shape()), dtype_name(t.params[i]->dtype()), shape_str(t.params[i]->shape()),
               d.str());
    }
  }
  FG_CHECK(step.device() == d && (!skip || skip->device() == d), "adam_step: step/skip must be on {}", d.str());
  launch(d).adam_step(p, t, step, skip);
}

}  // namespace fg
