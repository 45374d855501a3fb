#include "flowgrad/autograd/var.h"

namespace fg::ag {

namespace {
thread_local bool g_grad_enabled = true;
}

const char* op_name(OpId id) {
  switch (id) {
#define FG_DIFF_OP(name) \
  case OpId::name: return #name;
#include "flowgrad/detail/ops.def"
#undef FG_DIFF_OP
  }
  return "?";
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

Var Var::from_node(Tensor value, std::shared_ptr<Node> node, int output_nr) {
  Var v(std::move(value), true);
  v.impl_->grad_fn = std::move(node);
  v.impl_->output_nr = output_nr;
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

namespace detail {

std::vector<Tensor> input_values(const char* name, const std::vector<Var>& inputs, bool& any_grad) {
  std::vector<Tensor> vals;
  vals.reserve(inputs.size());
  any_grad = false;
  for (const Var& v : inputs) {
    FG_CHECK(v.defined(), "{}: got an undefined Var", name);
    vals.push_back(v.value());
    any_grad = any_grad || v.requires_grad();
  }
  return vals;
}

void connect(Node& node, const std::vector<Var>& inputs) {
  for (const Var& v : inputs) {
    Edge e;
    if (v.requires_grad()) {
      if (v.grad_fn()) {
        e.node = v.grad_fn();
        e.input_nr = v.output_nr();
      } else {
        e.leaf = v.impl_ptr();
      }
    }
    node.needs.push_back(e.active());
    node.edges.push_back(std::move(e));
  }
}

}  // namespace detail

}  // namespace fg::ag
