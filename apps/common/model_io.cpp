#include "apps/common/model_io.h"

#include "nn/image.h"

namespace fg::app {

LoadedModel load_model(const std::string& path, Device device) {
  LoadedModel lm;
  lm.checkpoint = nn::load_checkpoint(path);
  lm.config = flows::config_from_json(lm.checkpoint.get("config"));
  lm.model = flows::build_model(lm.config);
  nn::restore(lm.checkpoint, *lm.model, nullptr, false);
  lm.model->to(device);
  lm.model->eval();
  return lm;
}

void write_image_grid(const std::string& path, const Tensor& imgs, int nrow) {
  nn::write_png_grid(path, clamp(imgs.to(DType::F32), 0, 255).to(DType::U8), nrow);
}

}  // namespace fg::app
