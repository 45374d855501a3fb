// Optimizers with PyTorch's exact update rules, learning-rate schedules, and gradient clipping.
// Optimizer state (moments, step count) lives on the parameters' device and round-trips through
// state_dict for checkpoints. A step reads nothing back to the host: Adam is one fused multi-tensor
// kernel, the step count is a device tensor, clipping is one reduction, and a device flag (a
// non-finite loss or gradient) can make a step a no-op.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "flowgrad/autograd/var.h"

namespace fg::dist {
class GradReducer;
}

namespace fg::nn {

class Optimizer {
 public:
  explicit Optimizer(std::vector<ag::Var> params, double lr);
  virtual ~Optimizer() = default;
  // One update. With `skip` (a 0-d device tensor), a non-zero value makes the step a no-op
  // (parameters, state and step count unchanged) without the host reading it.
  virtual void step(const Tensor* skip = nullptr) = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t steps() const;  // a host read of the device step count
  const std::vector<ag::Var>& params() const { return params_; }
  // Moves the state to `d` (call after moving the model; load_state_dict puts state on the
  // parameters' device itself).
  void to(Device d);
  // Per-parameter state as "<kind>.<index>" tensors plus "step" and "lr".
  virtual std::map<std::string, Tensor> state_dict() const;
  virtual void load_state_dict(const std::map<std::string, Tensor>& sd);

 protected:
  Device device() const;
  std::vector<ag::Var> params_;
  double lr_;
  Tensor step_;  // f64 [1], the number of steps taken, on the parameters' device
  std::map<std::string, std::vector<Tensor>> state_;  // kind -> one tensor per parameter
};

// Adam (Kingma & Ba) as torch.optim.Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps); L2 weight decay adds wd*p to g.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ag::Var> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0);
  void step(const Tensor* skip = nullptr) override;

 protected:
  double b1_, b2_, eps_, wd_;
  bool decoupled_ = false;
};

// AdamW (Loshchilov & Hutter) as torch.optim.AdamW: decoupled weight decay, p *= 1 - lr*wd, then
// Adam's update without the L2 term (torchcfm's runner: lr 1e-3, wd 1e-5).
class AdamW : public Adam {
 public:
  AdamW(std::vector<ag::Var> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
};

// SGD as torch.optim.SGD: buf = momentum*buf + (1-dampening)*g (buf = g at the first step); p -= lr*buf.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ag::Var> params, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0);
  void step(const Tensor* skip = nullptr) override;

 private:
  double momentum_, dampening_, wd_;
};

// lr = base_lr * gamma^floor(epoch / step_size); call step() once per epoch (StepLR).
// ExponentialLR is StepLR with step_size 1.
class StepLR {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma);
  void step();
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t e);
  double lr() const;  // the scheduled learning rate of the current epoch

 private:
  Optimizer& opt_;
  double base_lr_, gamma_;
  int64_t step_size_, epoch_ = 0;
};

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor min(1, max_norm / (norm + 1e-6))). Returns the norm before clipping as a 0-d f64 tensor
// on the gradients' device: one reduction over all gradients, no host read.
Tensor clip_grad_norm(const std::vector<ag::Var>& params, double max_norm);
// The global L2 norm of the gradients (0-d f64 on their device), without clipping.
Tensor grad_norm(const std::vector<ag::Var>& params);

// One training step after the forward pass, with no host read: backward from `loss` (a scalar),
// clip to `clip` (0: no clipping), then opt.step() unless the loss or the gradient norm is
// non-finite, which the device decides. `bad` is 1 for such a skipped step, else 0 (0-d f64).
struct StepResult {
  Tensor loss, grad_norm, bad;
};
struct StepOptions {
  double clip = 0;                       // global gradient norm (0: no clipping)
  std::function<void()> after_backward;  // between backward and clipping (the training loop's fault point)
  // Data parallel: backward through the reducer (dist/reducer.h), from share * loss, so that the
  // gradients are summed over the ranks as they come; the step's loss is then the global batch's
  // (the sum over ranks of share * loss, reduced with the gradients). The reduced gradients are
  // the same on every rank, so the norm, the clipping, the non-finite check and the update are too.
  dist::GradReducer* reducer = nullptr;
  double share = 1;  // this rank's part of the global batch
};
StepResult optimizer_step(const ag::Var& loss, Optimizer& opt, const StepOptions& o);
inline StepResult optimizer_step(const ag::Var& loss, Optimizer& opt, double clip,
                                 const std::function<void()>& after_backward = {}) {
  return optimizer_step(loss, opt, StepOptions{clip, after_backward});
}

}  // namespace fg::nn
