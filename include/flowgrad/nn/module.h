// Module: named parameters (trainable Vars), named buffers (saved state that is not trained,
// e.g. ActNorm's "initialized" flag), named children, train/eval mode, device moves, parameter
// counting, a readable summary and state dicts. Parameters and buffers are Var handles, so a
// layer that keeps its own copy sees loads and optimizer updates.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flowgrad/autograd/functional.h"

namespace fg::nn {

using ag::Var;

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string type_name() const { return "Module"; }
  virtual std::string extra_repr() const { return ""; }
  // Single-input modules (layers, Sequential) override this.
  virtual Var forward(const Var& x);
  Var operator()(const Var& x) { return forward(x); }

  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  std::vector<std::pair<std::string, Var>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  int64_t num_parameters() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device d);
  void to(DType t);  // floating parameters and buffers only (e.g. f64 for gradient checks)
  void zero_grad();

  // One line per module: indented name, type, its own parameter shapes, and parameter count.
  std::string summary() const;

  // parameters and buffers by dotted name ("flows.0.network.weight")
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; with strict, reports every missing, unexpected and mismatched entry at once.
  // Then calls on_loaded() on every module of the tree.
  void load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);
  // A hook for modules that mirror a buffer on the host (read once here, not every forward).
  virtual void on_loaded() {}
  // For modules whose state follows their weights (spectral normalization's power iteration):
  // calls on_weights_changed() on every module of the tree. The training loop calls it after each
  // optimizer step and around evaluating a moving average of the weights.
  void weights_changed();
  virtual void on_weights_changed() {}

 protected:
  Var register_parameter(const std::string& name, Tensor value);
  Var register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> m);

 private:
  void collect(const std::string& prefix, bool params, std::vector<std::pair<std::string, Var>>& out) const;
  void summary_lines(const std::string& name, int depth, std::string& out) const;
  void notify_loaded();
  std::vector<std::pair<std::string, Var>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace fg::nn
