#include "flowgrad/nn/checkpoint.h"

#include <cstdlib>

#include "flowgrad/nn/safetensors.h"

namespace fg::nn {

const std::string& Checkpoint::get(const std::string& key) const {
  auto it = meta.find(key);
  FG_CHECK(it != meta.end(), "checkpoint {}: metadata '{}' is missing", path, key);
  return it->second;
}

int64_t Checkpoint::get_int(const std::string& key) const {
  const std::string& s = get(key);
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  FG_CHECK(!s.empty() && end && *end == 0, "checkpoint {}: metadata '{}' = '{}' is not an integer", path, key, printable(s));
  return v;
}

uint64_t Checkpoint::get_u64(const std::string& key) const {
  const std::string& s = get(key);
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  FG_CHECK(!s.empty() && end && *end == 0, "checkpoint {}: metadata '{}' = '{}' is not an integer", path, key, printable(s));
  return v;
}

double Checkpoint::get_double(const std::string& key) const {
  const std::string& s = get(key);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  FG_CHECK(!s.empty() && end && *end == 0, "checkpoint {}: metadata '{}' = '{}' is not a number", path, key, printable(s));
  return v;
}

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* opt,
                     std::map<std::string, std::string> meta, const EMA* ema) {
  std::map<std::string, Tensor> all;
  for (auto& [n, t] : model.state_dict()) all["model." + n] = t;
  if (opt)
    for (auto& [n, t] : opt->state_dict()) all["optim." + n] = t;
  if (ema) {
    for (auto& [n, t] : ema->state_dict()) all["ema." + n] = t;
    meta["ema_decay"] = fmt::format("{}", ema->decay());
  }
  meta["format"] = kCheckpointFormat;
  meta["rng_seed"] = std::to_string(default_generator().seed());
  meta["rng_offset"] = std::to_string(default_generator().offset());
  save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  Checkpoint ck;
  ck.path = path;
  ck.meta = std::move(f.metadata);
  auto fmt_it = ck.meta.find("format");
  FG_CHECK(fmt_it != ck.meta.end() && fmt_it->second == kCheckpointFormat,
           "{}: not a flowgrad checkpoint (metadata 'format' is '{}', expected '{}')", path,
           fmt_it == ck.meta.end() ? "missing" : printable(fmt_it->second), kCheckpointFormat);
  for (auto& [n, t] : f.tensors) {
    if (n.rfind("model.", 0) == 0) ck.model[n.substr(6)] = t;
    else if (n.rfind("optim.", 0) == 0) ck.optim[n.substr(6)] = t;
    else if (n.rfind("ema.", 0) == 0) ck.ema[n.substr(4)] = t;
    else fail(fmt::format("{}: unexpected tensor '{}' (expected model.*, optim.* or ema.*)", path, printable(n)));
  }
  return ck;
}

void restore(const Checkpoint& ck, Module& model, Optimizer* opt, bool restore_rng, EMA* ema) {
  try {
    model.load_state_dict(ck.model);
    if (opt) opt->load_state_dict(ck.optim);
    if (ema && !ck.ema.empty()) ema->load_state_dict(ck.ema);
  } catch (const Error& e) {
    fail(fmt::format("{}: does not fit this model: {}", ck.path, e.what()));
  }
  if (restore_rng) default_generator().set_state(ck.get_u64("rng_seed"), ck.get_u64("rng_offset"));
}

}  // namespace fg::nn
