// Rebuilding a model from a checkpoint (its metadata holds the model config).
#pragma once
#include "flows/models.h"
#include "nn/checkpoint.h"

namespace fg::app {

struct LoadedModel {
  std::shared_ptr<flows::ImageModel> model;
  flows::ModelConfig config;
  nn::Checkpoint checkpoint;
  // The model as a coupling flow; throws naming `what` (the command) for a flow-matching model.
  flows::ImageFlow& flow(const char* what) const;
};

// Loads `path`, builds the model its config names, restores its weights (not the optimizer),
// and moves it to `device`. Errors name the file.
LoadedModel load_model(const std::string& path, Device device = Device::cpu());

// Writes a batch of integer images [N, 1, H, W] as a PNG grid with `nrow` images per row, each
// pixel repeated `scale` x `scale` times so 28x28 digits are comfortable to look at.
void write_image_grid(const std::string& path, const Tensor& imgs, int nrow, int scale = 3);

}  // namespace fg::app
