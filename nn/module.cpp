#include "flowgrad/nn/module.h"

namespace fg::nn {

Var Module::forward(const Var&) {
  fail(fmt::format("{}: this module does not take a single input; call its own forward", type_name()));
}

Var Module::register_parameter(const std::string& name, Tensor value) {
  for (auto& [n, v] : params_) FG_CHECK(n != name, "{}: parameter '{}' registered twice", type_name(), name);
  Var v(std::move(value), true);
  params_.emplace_back(name, v);
  return v;
}

Var Module::register_buffer(const std::string& name, Tensor value) {
  for (auto& [n, v] : buffers_) FG_CHECK(n != name, "{}: buffer '{}' registered twice", type_name(), name);
  Var v(std::move(value), false);
  buffers_.emplace_back(name, v);
  return v;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  FG_CHECK(m != nullptr, "{}: child '{}' is null", type_name(), name);
  for (auto& [n, c] : children_) FG_CHECK(n != name, "{}: child '{}' registered twice", type_name(), name);
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, std::vector<std::pair<std::string, Var>>& out) const {
  for (auto& [n, v] : params ? params_ : buffers_) out.emplace_back(prefix + n, v);
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, out);
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  collect("", true, out);
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [n, v] : named_parameters()) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, Var>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Var>> out;
  collect("", false, out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, v] : named_parameters()) n += v.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(Device d) {
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, v] : *list) v.mutable_value() = v.value().to(d);
  for (auto& [n, c] : children_) c->to(d);
}

void Module::to(DType t) {
  FG_CHECK(is_floating(t), "{}: to({}) needs a floating dtype", type_name(), dtype_name(t));
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, v] : *list)
      if (is_floating(v.dtype())) v.mutable_value() = v.value().to(t);
  for (auto& [n, c] : children_) c->to(t);
}

void Module::zero_grad() {
  for (auto& v : parameters()) v.zero_grad();
}

void Module::summary_lines(const std::string& name, int depth, std::string& out) const {
  std::string own;
  int64_t own_n = 0;
  for (auto& [n, v] : params_) {
    own += fmt::format(" {}{}", n, shape_str(v.shape()));
    own_n += v.numel();
  }
  std::string extra = extra_repr();
  std::string head = fmt::format("{:{}}{}{}{}", "", 2 * depth, name.empty() ? "" : name + ": ", type_name(),
                                 extra.empty() ? "" : "(" + extra + ")");
  int64_t total = num_parameters();
  out += fmt::format("{:<60} {:>10}{}\n", head, total, own.empty() ? "" : "  " + own);
  (void)own_n;
  for (auto& [n, c] : children_) c->summary_lines(n, depth + 1, out);
}

std::string Module::summary() const {
  std::string out;
  summary_lines("", 0, out);
  out += fmt::format("total parameters: {}\n", num_parameters());
  return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (auto& [n, v] : named_parameters()) sd[n] = v.value();
  for (auto& [n, v] : named_buffers()) sd[n] = v.value();
  return sd;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  std::vector<std::string> problems;
  std::map<std::string, bool> used;
  auto entries = named_parameters();
  for (auto& b : named_buffers()) entries.push_back(b);
  for (auto& [n, v] : entries) {
    auto it = sd.find(n);
    if (it == sd.end()) {
      if (strict) problems.push_back(fmt::format("missing '{}' {}", n, shape_str(v.shape())));
      continue;
    }
    used[n] = true;
    const Tensor& t = it->second;
    if (t.shape() != v.shape() || t.dtype() != v.dtype())
      problems.push_back(fmt::format("'{}': expected {} {}, found {} {}", n, dtype_name(v.dtype()),
                                     shape_str(v.shape()), dtype_name(t.dtype()), shape_str(t.shape())));
  }
  if (strict)
    for (auto& [n, t] : sd)
      if (!used.count(n)) problems.push_back(fmt::format("unexpected '{}' {}", printable(n), shape_str(t.shape())));
  if (!problems.empty()) {  // the first three and a count: a wrong file can mismatch hundreds of entries
    std::vector<std::string> shown(problems.begin(), problems.begin() + std::min<size_t>(3, problems.size()));
    std::string more = problems.size() > 3 ? fmt::format("; ... and {} more", problems.size() - 3) : "";
    fail(fmt::format("load_state_dict ({}): {} problem(s): {}{}", type_name(), problems.size(), fmt::join(shown, "; "),
                     more));
  }
  for (auto& [n, v] : entries) {
    auto it = sd.find(n);
    if (it != sd.end()) v.mutable_value() = it->second.clone().to(v.device());
  }
  notify_loaded();
}

void Module::weights_changed() {
  on_weights_changed();
  for (auto& [n, c] : children_) c->weights_changed();
}

void Module::notify_loaded() {
  on_loaded();
  for (auto& [n, c] : children_) c->notify_loaded();
}

}  // namespace fg::nn
