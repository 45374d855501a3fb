// The backward pass: an iterative depth-first topological sort from the root's Node (Glow graphs
// are deep, so no recursion), then Nodes in reverse order, each getting the sum of the gradients
// of its output. Leaf gradients accumulate across backward calls, as in PyTorch.
#include <unordered_map>

#include "autograd/var.h"

namespace fg::ag {

namespace {
void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? slot + g : g; }
}  // namespace

void Var::backward(const Tensor& grad_out, bool retain_graph) const {
  FG_CHECK(defined(), "backward: undefined Var");
  FG_CHECK(requires_grad(), "backward: this Var does not require grad (no graph was recorded)");
  Tensor g0 = grad_out.defined() ? grad_out : ones_like(value());
  FG_CHECK(g0.shape() == shape(), "backward: gradient {} does not match output {}", shape_str(g0.shape()),
           shape_str(shape()));
  FG_CHECK(g0.dtype() == dtype() && g0.device() == device(), "backward: gradient dtype/device differ from the output");
  if (is_leaf()) {
    accumulate(impl_->grad, g0);
    return;
  }
  // topological order (post-order DFS)
  std::vector<Node*> order;
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack{{grad_fn().get(), 0}};
  visited[grad_fn().get()] = true;
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
  std::unordered_map<Node*, Tensor> grads;
  grads[grad_fn().get()] = g0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    FG_CHECK(!n->released, "backward: the graph through '{}' was already freed by an earlier backward; "
             "pass retain_graph=true to backward twice", n->name());
    auto gi = grads.find(n);
    if (gi == grads.end()) continue;
    Tensor g = std::move(gi->second);
    grads.erase(gi);
    std::vector<Tensor> in_grads;
    {
      ProfileScope ps(n->name(), true);
      in_grads = n->backward(g);
    }
    for (size_t k = 0; k < n->edges.size(); ++k) {
      const Edge& e = n->edges[k];
      if (!e.active() || k >= in_grads.size() || !in_grads[k].defined()) continue;
      ProfileScope ps("grad accumulate", true);
      if (e.node) accumulate(grads[e.node.get()], in_grads[k]);
      else accumulate(e.leaf->grad, in_grads[k]);
    }
    if (!retain_graph) {
      n->release();
      n->released = true;
    }
  }
}

}  // namespace fg::ag
