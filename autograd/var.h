// Var: a tensor value that may take part in reverse-mode differentiation. A Var made by a
// differentiable op points to the Node that made it; the Node holds edges to its inputs' Nodes
// (or to leaf Vars, where gradients accumulate) and the tensors its backward needs.
#pragma once
#include <memory>
#include <vector>

#include "autograd/profiler.h"
#include "tensor/ops.h"

namespace fg::ag {

struct Node;

struct VarImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
};

class Var {
 public:
  Var() = default;
  Var(Tensor value, bool requires_grad = false);  // a leaf
  static Var from_node(Tensor value, std::shared_ptr<Node> node);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  Tensor& mutable_value();  // for optimizers and initializers (under NoGradGuard)
  const Tensor& grad() const;
  void set_grad(Tensor g);
  void zero_grad();
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  Var& set_requires_grad(bool on);  // leaves only
  bool is_leaf() const { return impl_ && !impl_->grad_fn; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }

  const Shape& shape() const { return value().shape(); }
  int64_t dim() const { return value().dim(); }
  int64_t size(int64_t d) const { return value().size(d); }
  int64_t numel() const { return value().numel(); }
  DType dtype() const { return value().dtype(); }
  Device device() const { return value().device(); }
  double item() const { return value().item(); }

  // Reverse-mode pass from this Var. grad_out defaults to ones (scalar outputs). Saved tensors
  // are freed afterwards unless retain_graph; a second backward through a freed graph throws.
  void backward(const Tensor& grad_out = {}, bool retain_graph = false) const;
  Var detach() const { return Var(value(), false); }

  VarImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<VarImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<VarImpl> impl_;
};

// One edge per op input: to the Node that made it, or to the leaf where its gradient lands,
// or nothing when that input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<VarImpl> leaf;
  bool active() const { return node || leaf; }
};

struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Gradients for each input given the output's gradient (undefined where !needs[i]).
  virtual std::vector<Tensor> backward(const Tensor& grad_out) = 0;
  virtual void release() = 0;  // drop saved tensors
  std::vector<Edge> edges;
  std::vector<bool> needs;
  bool released = false;
};

bool grad_enabled();
void set_grad_enabled(bool on);
// Disables graph recording in its scope (eval, sampling, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Runs Op::forward on the inputs' values and records a Node when grad mode is on and some
// input requires a gradient. Op: default-constructible, `static constexpr const char* name`,
// `Tensor forward(const std::vector<Tensor>&)`,
// `std::vector<Tensor> backward(const Tensor& g, const std::vector<bool>& needs)`.
template <class Op>
struct OpNode final : Node {
  Op op;
  explicit OpNode(Op o) : op(std::move(o)) {}
  const char* name() const override { return Op::name; }
  std::vector<Tensor> backward(const Tensor& g) override { return op.backward(g, needs); }
  void release() override { op = Op{}; }
};

template <class Op>
Var apply(Op op, const std::vector<Var>& inputs) {
  std::vector<Tensor> vals;
  vals.reserve(inputs.size());
  bool any = false;
  for (const Var& v : inputs) {
    FG_CHECK(v.defined(), "{}: got an undefined Var", Op::name);
    vals.push_back(v.value());
    any = any || v.requires_grad();
  }
  Tensor out;
  {
    ProfileScope ps(Op::name, false);
    out = op.forward(vals);
  }
  if (!any || !grad_enabled()) return Var(std::move(out));
  auto node = std::make_shared<OpNode<Op>>(std::move(op));
  for (const Var& v : inputs) {
    Edge e;
    if (v.requires_grad()) {
      if (v.grad_fn()) e.node = v.grad_fn();
      else e.leaf = v.impl_ptr();
    }
    node->needs.push_back(e.active());
    node->edges.push_back(std::move(e));
  }
  return Var::from_node(std::move(out), std::move(node));
}

}  // namespace fg::ag
