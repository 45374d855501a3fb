// The backward pass: an iterative depth-first topological sort from the roots' Nodes (Glow graphs
// are deep, so no recursion), then Nodes in reverse order, each getting, per output, the sum of
// the gradients that reached it. Leaf gradients accumulate across backward calls, as in PyTorch;
// grad() instead captures the gradients of chosen Vars and leaves every .grad alone. A LeafGradHook
// hears of each leaf as soon as the last Node that feeds it has run.
#include <unordered_map>

#include "flowgrad/autograd/var.h"

namespace fg::ag {

namespace {

thread_local const LeafGradHook* t_hook = nullptr;

// Counts, per leaf, the Nodes of the pass still to run that have an edge to it (an edge counted
// once per use), and calls the hook when a leaf's count reaches zero.
class LeafCountdown {
 public:
  LeafCountdown(const LeafGradHook* hook, const std::vector<Node*>& order) : hook_(hook) {
    if (!hook_) return;
    for (Node* n : order)
      for (const Edge& e : n->edges)
        if (e.leaf) ++pending_[e.leaf.get()];
  }
  // Node n has run (or was skipped: no gradient reached it).
  void done(const Node* n) {
    if (!hook_) return;
    for (const Edge& e : n->edges)
      if (e.leaf && --pending_[e.leaf.get()] == 0) (*hook_)(e.leaf.get());
  }

 private:
  const LeafGradHook* hook_;
  std::unordered_map<const VarImpl*, int> pending_;
};

void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? slot + g : g; }

std::vector<Node*> topo_order(const std::vector<Node*>& roots) {
  std::vector<Node*> order;
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack;
  for (Node* r : roots) {
    if (!r || visited[r]) continue;
    visited[r] = true;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->edges.size()) {
        Node* c = n->edges[i++].node.get();
        if (c && !visited[c]) {
          visited[c] = true;
          stack.push_back({c, 0});
        }
      } else {
        order.push_back(n);
        stack.pop_back();
      }
    }
  }
  return order;
}

// What a pass does with gradients that reach leaves, and which Vars' gradients it captures.
struct Capture {
  std::unordered_map<VarImpl*, size_t> leaves;                 // leaf -> slot
  std::unordered_map<Node*, std::vector<std::pair<int, size_t>>> outputs;  // node -> (output, slot)
  std::vector<Tensor> slots;
};

void run(const std::vector<Var>& roots, const std::vector<Tensor>& root_grads, bool retain_graph, Capture* cap) {
  std::unordered_map<Node*, std::vector<Tensor>> grads;
  std::vector<Node*> root_nodes;
  for (size_t k = 0; k < roots.size(); ++k) {
    const Var& r = roots[k];
    if (r.is_leaf()) {
      if (!cap) accumulate(r.impl()->grad, root_grads[k]);
      else if (auto it = cap->leaves.find(r.impl()); it != cap->leaves.end()) accumulate(cap->slots[it->second], root_grads[k]);
      continue;
    }
    Node* n = r.grad_fn().get();
    auto& g = grads[n];
    g.resize(n->num_outputs());
    accumulate(g[r.output_nr()], root_grads[k]);
    root_nodes.push_back(n);
  }
  std::vector<Node*> order = topo_order(root_nodes);
  LeafCountdown countdown(cap ? nullptr : t_hook, order);
  // grad(): only nodes from which a captured Var is reachable run, and only towards it (their
  // other inputs' `needs` are masked for the pass), so parameter gradients are not even computed.
  std::unordered_map<Node*, bool> reach;
  if (cap)
    for (Node* n : order) {  // post-order: inputs first
      bool r = cap->outputs.count(n) > 0;
      for (const Edge& e : n->edges) r = r || (e.node && reach[e.node.get()]) || (e.leaf && cap->leaves.count(e.leaf.get()));
      reach[n] = r;
    }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    FG_CHECK(!n->released, "backward: the graph through '{}' was already freed by an earlier backward; "
             "pass retain_graph=true to backward twice", n->name());
    auto gi = grads.find(n);
    if (gi == grads.end()) {
      countdown.done(n);
      continue;
    }
    if (cap && !reach[n]) {
      grads.erase(gi);
      continue;
    }
    std::vector<Tensor> g = std::move(gi->second);
    grads.erase(gi);
    if (cap)
      if (auto c = cap->outputs.find(n); c != cap->outputs.end())
        for (auto [out, slot] : c->second)
          if (out < static_cast<int>(g.size()) && g[out].defined()) accumulate(cap->slots[slot], g[out]);
    std::vector<Tensor> in_grads;
    {
      ProfileScope ps(n->name(), true);
      if (cap) {
        std::vector<bool> saved = n->needs;
        for (size_t k = 0; k < n->edges.size(); ++k) {
          const Edge& e = n->edges[k];
          n->needs[k] = saved[k] && ((e.node && reach[e.node.get()]) || (e.leaf && cap->leaves.count(e.leaf.get())));
        }
        in_grads = n->backward(g);
        n->needs = std::move(saved);
      } else {
        in_grads = n->backward(g);
      }
    }
    for (size_t k = 0; k < n->edges.size(); ++k) {
      const Edge& e = n->edges[k];
      if (!e.active() || k >= in_grads.size() || !in_grads[k].defined()) continue;
      if (cap && e.node && !reach[e.node.get()]) continue;
      ProfileScope ps("grad accumulate", true);
      if (e.node) {
        auto& slot = grads[e.node.get()];
        slot.resize(e.node->num_outputs());
        accumulate(slot[e.input_nr], in_grads[k]);
      } else if (!cap) {
        accumulate(e.leaf->grad, in_grads[k]);
      } else if (auto l = cap->leaves.find(e.leaf.get()); l != cap->leaves.end()) {
        accumulate(cap->slots[l->second], in_grads[k]);
      }
    }
    if (!retain_graph) {
      n->release();
      n->released = true;
    }
    countdown.done(n);
  }
}

Tensor check_root_grad(const Var& v, const Tensor& g, const char* what) {
  FG_CHECK(v.defined(), "{}: undefined Var", what);
  FG_CHECK(v.requires_grad(), "{}: this Var does not require grad (no graph was recorded)", what);
  Tensor g0 = g.defined() ? g : ones_like(v.value());
  FG_CHECK(g0.shape() == v.shape(), "{}: gradient {} does not match output {}", what, shape_str(g0.shape()),
           shape_str(v.shape()));
  FG_CHECK(g0.dtype() == v.dtype() && g0.device() == v.device(), "{}: gradient dtype/device differ from the output",
           what);
  return g0;
}

}  // namespace

LeafGradHook::LeafGradHook(std::function<void(const VarImpl*)> ready) : ready_(std::move(ready)), prev_(t_hook) {
  t_hook = this;
}
LeafGradHook::~LeafGradHook() { t_hook = prev_; }
const LeafGradHook* LeafGradHook::current() { return t_hook; }

void Var::backward(const Tensor& grad_out, bool retain_graph) const {
  Tensor g0 = check_root_grad(*this, grad_out, "backward");
  run({*this}, {g0}, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  FG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
           "grad: {} outputs but {} output gradients", outputs.size(), grad_outputs.size());
  std::vector<Tensor> g0;
  for (size_t k = 0; k < outputs.size(); ++k)
    g0.push_back(check_root_grad(outputs[k], grad_outputs.empty() ? Tensor() : grad_outputs[k], "grad"));
  Capture cap;
  cap.slots.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Var& v = inputs[i];
    FG_CHECK(v.defined() && v.requires_grad(), "grad: input {} does not require grad", i);
    if (v.is_leaf()) cap.leaves[v.impl()] = i;
    else cap.outputs[v.grad_fn().get()].push_back({v.output_nr(), i});
  }
  run(outputs, g0, retain_graph, &cap);
  return cap.slots;
}

}  // namespace fg::ag
