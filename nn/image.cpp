// PNG grids and files. Encoding/decoding uses libpng's simplified API (png_image_*), which reports
// errors through png_image.message instead of longjmp, so no setjmp crosses C++ frames here.
#include "flowgrad/nn/image.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/tensor/ops.h"
#include "flowgrad/tensor/error.h"

namespace fg::nn {
namespace {

template <class T>
void to_bytes(const T* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double v = static_cast<double>(src[i]);
    v = std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0);
    dst[i] = static_cast<uint8_t>(v * 255.0 + 0.5);
  }
}

}  // namespace

Tensor make_grid(const Tensor& nchw, int nrow, int padding, double pad_value) {
  FG_CHECK(nchw.defined(), "make_grid: undefined tensor");
  FG_CHECK(nchw.dim() == 4, "make_grid: expected [N, C, H, W], got shape {}", shape_str(nchw.shape()));
  const int64_t n = nchw.size(0), c = nchw.size(1), h = nchw.size(2), w = nchw.size(3);
  FG_CHECK(c == 1 || c == 3, "make_grid: {} channels in shape {}; expected 1 or 3", c, shape_str(nchw.shape()));
  FG_CHECK(n > 0 && h > 0 && w > 0, "make_grid: empty batch of shape {}", shape_str(nchw.shape()));
  FG_CHECK(nrow > 0, "make_grid: nrow must be positive, got {}", nrow);
  FG_CHECK(padding >= 0, "make_grid: padding must be non-negative, got {}", padding);
  FG_CHECK(pad_value >= 0 && pad_value <= 1, "make_grid: pad_value must be in [0, 1], got {}", pad_value);
  const DType dt = nchw.dtype();
  FG_CHECK(dt == DType::U8 || dt == DType::F32 || dt == DType::F64,
           "make_grid: dtype {} not supported; expected u8 (0..255) or f32/f64 (0..1)", dtype_name(dt));

  Tensor host = nchw.to(Device::cpu());
  std::vector<uint8_t> bytes(static_cast<size_t>(host.numel()));
  if (dt == DType::U8)
    std::memcpy(bytes.data(), host.raw(), bytes.size());
  else if (dt == DType::F32)
    to_bytes(host.data<float>(), bytes.data(), host.numel());
  else
    to_bytes(host.data<double>(), bytes.data(), host.numel());

  const int64_t cols = std::min<int64_t>(nrow, n), rows = (n + cols - 1) / cols;
  const int64_t th = h + padding, tw = w + padding;
  const int64_t gh = rows * th + padding, gw = cols * tw + padding;
  Tensor grid = Tensor::empty({gh, gw, c}, DType::U8);
  uint8_t* g = grid.data<uint8_t>();
  std::memset(g, static_cast<int>(pad_value * 255.0 + 0.5), static_cast<size_t>(grid.numel()));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = (i / cols) * th + padding, x0 = (i % cols) * tw + padding;
    const uint8_t* img = bytes.data() + i * c * h * w;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) g[((y0 + y) * gw + (x0 + x)) * c + ch] = img[(ch * h + y) * w + x];
  }
  return grid;
}

void write_png(const std::string& path, const Tensor& image) {
  FG_CHECK(image.defined(), "write_png {}: undefined tensor", path);
  FG_CHECK(image.dtype() == DType::U8, "write_png {}: image is {}, expected u8 (use make_grid for float images)", path,
           dtype_name(image.dtype()));
  const bool ok_shape = image.dim() == 2 || (image.dim() == 3 && (image.size(2) == 1 || image.size(2) == 3));
  FG_CHECK(ok_shape, "write_png {}: shape {}; expected [H, W], [H, W, 1] or [H, W, 3]", path, shape_str(image.shape()));
  const int64_t h = image.size(0), w = image.size(1), c = image.dim() == 3 ? image.size(2) : 1;
  FG_CHECK(h > 0 && w > 0 && h < (1 << 24) && w < (1 << 24), "write_png {}: bad image size {}x{}", path, h, w);
  Tensor host = image.to(Device::cpu());

  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  const png_int_32 stride = static_cast<png_int_32>(w * c);
  int ok = png_image_write_to_memory(&img, nullptr, &size, 0, host.raw(), stride, nullptr);
  FG_CHECK(ok && size > 0, "write_png {}: libpng could not size the image: {}", path, img.message);
  std::vector<unsigned char> buf(size);
  ok = png_image_write_to_memory(&img, buf.data(), &size, 0, host.raw(), stride, nullptr);
  std::string msg = img.message;
  png_image_free(&img);
  FG_CHECK(ok, "write_png {}: libpng failed to encode the image: {}", path, msg);
  atomic_write_file(path, std::string_view(reinterpret_cast<const char*>(buf.data()), size));
}

void write_png_grid(const std::string& path, const Tensor& nchw, int nrow, int padding, double pad_value) {
  write_png(path, make_grid(nchw, nrow, padding, pad_value));
}

Tensor read_png(const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  FG_CHECK(png_image_begin_read_from_file(&img, path.c_str()), "read_png {}: {}", path, img.message);
  const bool color = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  img.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const int64_t c = color ? 3 : 1;
  Tensor t = Tensor::empty({int64_t{img.height}, int64_t{img.width}, c}, DType::U8);
  std::memset(t.raw(), 0, t.nbytes());  // alpha, if any, is composited onto black
  int ok = png_image_finish_read(&img, nullptr, t.raw(), 0, nullptr);
  std::string msg = img.message;
  png_image_free(&img);
  FG_CHECK(ok, "read_png {}: {}", path, msg);
  return t;
}

void write_image_grid(const std::string& path, const Tensor& imgs, int nrow, int scale) {
  FG_CHECK(scale >= 1, "write_image_grid: scale must be at least 1, got {}", scale);
  Tensor grid = make_grid(clamp(imgs.to(DType::F32), 0, 255).to(DType::U8), nrow);  // [H, W, C]
  if (scale > 1) {
    int64_t h = grid.size(0), w = grid.size(1), c = grid.size(2);
    grid = broadcast_to(grid.reshape({h, 1, w, 1, c}), {h, scale, w, scale, c}).reshape({h * scale, w * scale, c});
  }
  write_png(path, grid);
}

}  // namespace fg::nn
