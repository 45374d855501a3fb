// Image output: PNG files through libpng (its simplified png_image API), written atomically, and
// torchvision-style grids of image batches.
#pragma once
#include <string>

#include "flowgrad/tensor/tensor.h"

namespace fg::nn {

// Tiles a batch [N, C, H, W] (C = 1 or 3) into one image [GH, GW, C] U8, like
// torchvision.utils.make_grid: min(nrow, N) images per row, ceil(N / that) rows, `padding` pixels
// around and between tiles filled with pad_value (in [0, 1], scaled to 0..255). Float tensors
// (F32/F64) are clamped to [0, 1] and mapped to round(255 x) (NaN -> 0); U8 tensors are copied.
// Any device (copied to the CPU).
Tensor make_grid(const Tensor& nchw, int nrow = 8, int padding = 2, double pad_value = 0.5);

// Writes a U8 image [H, W] or [H, W, 1] (grayscale) or [H, W, 3] (RGB) as an 8-bit PNG, atomically.
void write_png(const std::string& path, const Tensor& image);

// make_grid + write_png.
void write_png_grid(const std::string& path, const Tensor& nchw, int nrow = 8, int padding = 2, double pad_value = 0.5);

// Integer-valued images [N, C, H, W] (any dtype, values clamped to 0..255, e.g. a model's samples)
// as a PNG grid of `nrow` images per row, each pixel drawn as scale x scale PNG pixels.
void write_image_grid(const std::string& path, const Tensor& imgs, int nrow = 8, int scale = 1);

// Reads an 8-bit PNG as U8 [H, W, C] with C = 1 (gray) or 3 (color; alpha is dropped). For tests
// and tools; throws naming the file on any error.
Tensor read_png(const std::string& path);

}  // namespace fg::nn
