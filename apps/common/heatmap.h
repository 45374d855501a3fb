// Heatmaps of a function on a regular 2-D grid (e.g. a flow's log-density), as PNG: drawn by
// gnuplot (`with image`, axes and a colour bar) when it is installed, else written directly as
// a bare image of the grid (one pixel per cell) through nn::write_png. And scatter plots of 2-D
// points (gnuplot only).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flowgrad/tensor/tensor.h"
#include "flowgrad/train/plot.h"

namespace fg::app {

struct Grid2D {
  int64_t nx = 0, ny = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // cell centres run from x0 to x1 and y0 to y1
  std::vector<double> values;               // ny rows of nx, row 0 at y0 (the bottom)
  double x(int64_t i) const { return nx > 1 ? x0 + (x1 - x0) * i / (nx - 1) : x0; }
  double y(int64_t j) const { return ny > 1 ? y0 + (y1 - y0) * j / (ny - 1) : y0; }
};

// A viridis-like colour map (linear between 9 samples of matplotlib's viridis); t is clamped to [0, 1].
void viridis(double t, uint8_t rgb[3]);

// Writes the grid as a heatmap PNG with the colour scale [lo, hi]: values below lo (including
// -inf) take lo's colour, above hi hi's; NaN cells are drawn as lo. Returns true when gnuplot drew
// it, false when it fell back to the bare image.
bool heatmap_png(const std::string& png_path, const Grid2D& grid, double lo, double hi, const train::PlotSpec& spec);

// The points of pts [N, 2] on [-extent, extent]^2 with equal axes; false when gnuplot is missing.
bool scatter_png(const std::string& png_path, const Tensor& pts, const std::string& title, double extent);

}  // namespace fg::app
