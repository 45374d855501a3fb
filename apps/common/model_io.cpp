#include "apps/common/model_io.h"

#include "nn/image.h"

namespace fg::app {

LoadedModel load_model(const std::string& path, Device device) {
  LoadedModel lm;
  lm.checkpoint = nn::load_checkpoint(path);
  lm.config = flows::config_from_json(lm.checkpoint.get("config"));
  lm.model = flows::build_image_model(lm.config);
  nn::restore(lm.checkpoint, *lm.model, nullptr, false);
  lm.model->to(device);
  lm.model->eval();
  return lm;
}

flows::ImageFlow& LoadedModel::flow(const char* what) const {
  auto* f = dynamic_cast<flows::ImageFlow*>(model.get());
  FG_CHECK(f, "{}: {} holds a {} model ({}); this command needs a coupling flow", what, checkpoint.path, config.name,
           model->family());
  return *f;
}

void write_image_grid(const std::string& path, const Tensor& imgs, int nrow, int scale) {
  Tensor grid = nn::make_grid(clamp(imgs.to(DType::F32), 0, 255).to(DType::U8), nrow);  // [H, W, C]
  if (scale > 1) {
    int64_t h = grid.size(0), w = grid.size(1), c = grid.size(2);
    grid = grid.reshape({h, 1, w, 1, c});
    grid = broadcast_to(grid, {h, scale, w, scale, c}).reshape({h * scale, w * scale, c});
  }
  nn::write_png(path, grid);
}

}  // namespace fg::app
