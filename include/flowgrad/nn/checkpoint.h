// Training checkpoints: model parameters and buffers ("model.<name>"), optimizer state
// ("optim.<name>"), the parameters' moving average when training keeps one ("ema.<name>"), and
// string metadata (model config, epoch, step, RNG state, metrics) in one
// safetensors file, written atomically. Loading checks the format tag and reports every
// name/shape/dtype mismatch against the model.
#pragma once
#include <map>
#include <string>

#include "flowgrad/nn/ema.h"
#include "flowgrad/nn/module.h"
#include "flowgrad/nn/optim.h"

namespace fg::nn {

constexpr const char* kCheckpointFormat = "flowgrad-checkpoint-1";

struct Checkpoint {
  std::map<std::string, Tensor> model, optim, ema;
  std::map<std::string, std::string> meta;
  // typed metadata access; throw naming the key and the file when missing or malformed
  const std::string& get(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  uint64_t get_u64(const std::string& key) const;
  double get_double(const std::string& key) const;
  std::string path;
};

// meta gets "format" and the default generator's "rng_seed"/"rng_offset" added.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* opt,
                     std::map<std::string, std::string> meta, const EMA* ema = nullptr);
Checkpoint load_checkpoint(const std::string& path);
// Loads model (strict) and, if given, optimizer state and the moving average (a checkpoint
// without one leaves ema to start afresh); restores the default generator's state.
void restore(const Checkpoint& ck, Module& model, Optimizer* opt, bool restore_rng = true, EMA* ema = nullptr);

}  // namespace fg::nn
