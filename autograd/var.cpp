#include "autograd/var.h"

namespace fg::ag {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

Var::Var(Tensor value, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  FG_CHECK(value.defined(), "Var: cannot wrap an undefined tensor");
  FG_CHECK(!requires_grad || is_floating(value.dtype()), "Var: only floating tensors can require grad, got {}",
           dtype_name(value.dtype()));
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

Var Var::from_node(Tensor value, std::shared_ptr<Node> node) {
  Var v(std::move(value), true);
  v.impl_->grad_fn = std::move(node);
  return v;
}

const Tensor& Var::value() const {
  FG_CHECK(impl_, "Var: access to an undefined Var");
  return impl_->value;
}
Tensor& Var::mutable_value() {
  FG_CHECK(impl_, "Var: access to an undefined Var");
  return impl_->value;
}
const Tensor& Var::grad() const {
  FG_CHECK(impl_, "Var: access to an undefined Var");
  return impl_->grad;
}
void Var::set_grad(Tensor g) { impl_->grad = std::move(g); }
void Var::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}
Var& Var::set_requires_grad(bool on) {
  FG_CHECK(is_leaf(), "set_requires_grad: only leaf Vars can change requires_grad");
  FG_CHECK(!on || is_floating(value().dtype()), "set_requires_grad: only floating tensors can require grad");
  impl_->requires_grad = on;
  return *this;
}

}  // namespace fg::ag
