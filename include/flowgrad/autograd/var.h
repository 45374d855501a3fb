// Var: a tensor value that may take part in reverse-mode differentiation. A Var made by a
// differentiable op points to the Node that made it (and which of its outputs it is); the Node
// holds edges to its inputs' Nodes (or to leaf Vars, where gradients accumulate) and the tensors
// its backward needs. Every op struct names its entry of flowgrad/detail/ops.def (OpId).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "flowgrad/autograd/profiler.h"
#include "flowgrad/tensor/ops.h"

namespace fg::ag {

// One id per entry of flowgrad/detail/ops.def: the elementwise table's unary ops, then its binary ops
// (in table order, so the UnaryOp/BinaryOp values map directly), then the rest.
enum class OpId : uint16_t {
#define FG_DIFF_OP(name) name,
#include "flowgrad/detail/ops.def"
#undef FG_DIFF_OP
};
const char* op_name(OpId id);
inline OpId op_id(UnaryOp op) { return static_cast<OpId>(static_cast<int>(op)); }
inline OpId op_id(BinaryOp op) { return static_cast<OpId>(kNumUnaryOps + static_cast<int>(op)); }

struct Node;

struct VarImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  int output_nr = 0;  // which of grad_fn's outputs this is
};

class Var {
 public:
  Var() = default;
  Var(Tensor value, bool requires_grad = false);  // a leaf
  static Var from_node(Tensor value, std::shared_ptr<Node> node, int output_nr = 0);

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
  int output_nr() const { return impl_->output_nr; }

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

// Runs `ready(leaf)` during Var::backward on this thread, once for each leaf whose gradient is
// final for the pass (every Node with an edge to it has run, whether or not it passed a gradient),
// in the order that happens: data-parallel training starts reducing a parameter's gradient while
// backward still runs (dist::GradReducer), as PyTorch DDP's per-parameter hooks do. Leaves the
// pass does not reach get no call. grad() (a vector-Jacobian product) runs no hook.
class LeafGradHook {
 public:
  explicit LeafGradHook(std::function<void(const VarImpl*)> ready);
  ~LeafGradHook();
  LeafGradHook(const LeafGradHook&) = delete;
  LeafGradHook& operator=(const LeafGradHook&) = delete;
  static const LeafGradHook* current();
  void operator()(const VarImpl* leaf) const { ready_(leaf); }

 private:
  std::function<void(const VarImpl*)> ready_;
  const LeafGradHook* prev_;
};

// The gradients of sum_k <outputs[k], grad_outputs[k]> with respect to `inputs` (leaves or any
// Vars of the graph): a vector-Jacobian product that leaves every leaf's .grad untouched.
// An input the outputs do not depend on gets an undefined tensor. The graph is freed unless
// retain_graph (pass it to take several products through one graph).
std::vector<Tensor> grad(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph = false);

// One edge per op input: to the Node that made it (and which output), or to the leaf where its
// gradient lands, or nothing when that input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  int input_nr = 0;
  std::shared_ptr<VarImpl> leaf;
  bool active() const { return node || leaf; }
};

struct Node {
  virtual ~Node() = default;
  virtual OpId id() const = 0;
  const char* name() const { return op_name(id()); }
  virtual int num_outputs() const { return 1; }
  // Gradients for each input given the outputs' gradients (grads[i] undefined where output i got
  // none; the engine calls this only when at least one arrived). Undefined where !needs[i].
  virtual std::vector<Tensor> backward(std::vector<Tensor>& grads) = 0;
  virtual void release() = 0;  // drop saved tensors
  std::vector<Edge> edges;
  std::vector<bool> needs;
  bool released = false;
};

bool grad_enabled();
void set_grad_enabled(bool on);
// Sets graph recording for its scope: GradModeGuard(false) for eval, sampling and optimizer steps
// (NoGradGuard), GradModeGuard(true) for a vector-Jacobian product inside a no-grad solve.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Op structs: default-constructible, `OpId id() const`, `Tensor forward(const std::vector<Tensor>&)`
// and `std::vector<Tensor> backward(const Tensor& g, const std::vector<bool>& needs)`. Multi-output
// ops (apply_multi) return std::vector<Tensor> from forward and take all outputs' gradients.
template <class Op>
struct OpNode final : Node {
  Op op;
  explicit OpNode(Op o) : op(std::move(o)) {}
  OpId id() const override { return op.id(); }
  std::vector<Tensor> backward(std::vector<Tensor>& g) override { return op.backward(g[0], needs); }
  void release() override { op = Op{}; }
};

template <class Op>
struct MultiOpNode final : Node {
  Op op;
  int outputs = 0;
  explicit MultiOpNode(Op o, int n) : op(std::move(o)), outputs(n) {}
  OpId id() const override { return op.id(); }
  int num_outputs() const override { return outputs; }
  std::vector<Tensor> backward(std::vector<Tensor>& g) override { return op.backward(g, needs); }
  void release() override { op = Op{}; }
};

namespace detail {
std::vector<Tensor> input_values(const char* name, const std::vector<Var>& inputs, bool& any_grad);
void connect(Node& node, const std::vector<Var>& inputs);
}  // namespace detail

template <class Op>
Var apply(Op op, const std::vector<Var>& inputs) {
  const OpId id = op.id();
  bool any = false;
  std::vector<Tensor> vals = detail::input_values(op_name(id), inputs, any);
  Tensor out;
  {
    ProfileScope ps(op_name(id), false);
    out = op.forward(vals);
  }
  if (!any || !grad_enabled()) return Var(std::move(out));
  auto node = std::make_shared<OpNode<Op>>(std::move(op));
  detail::connect(*node, inputs);
  return Var::from_node(std::move(out), std::move(node));
}

template <class Op>
std::vector<Var> apply_multi(Op op, const std::vector<Var>& inputs) {
  const OpId id = op.id();
  bool any = false;
  std::vector<Tensor> vals = detail::input_values(op_name(id), inputs, any);
  std::vector<Tensor> outs;
  {
    ProfileScope ps(op_name(id), false);
    outs = op.forward(vals);
  }
  std::vector<Var> vars;
  if (!any || !grad_enabled()) {
    for (auto& t : outs) vars.emplace_back(std::move(t));
    return vars;
  }
  auto node = std::make_shared<MultiOpNode<Op>>(std::move(op), static_cast<int>(outs.size()));
  detail::connect(*node, inputs);
  for (size_t i = 0; i < outs.size(); ++i) vars.push_back(Var::from_node(std::move(outs[i]), node, static_cast<int>(i)));
  return vars;
}

}  // namespace fg::ag
