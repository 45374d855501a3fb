#include "apps/common/heatmap.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "apps/common/cli.h"
#include "flowgrad/train/plot.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/tensor/error.h"

namespace fg::app {

namespace fs = std::filesystem;

namespace {

// matplotlib's viridis at t = 0, 1/8, ..., 1
constexpr double kViridis[9][3] = {
    {0.267, 0.005, 0.329}, {0.279, 0.175, 0.483}, {0.230, 0.322, 0.546}, {0.173, 0.449, 0.558}, {0.128, 0.567, 0.551},
    {0.153, 0.680, 0.510}, {0.369, 0.789, 0.383}, {0.678, 0.864, 0.190}, {0.993, 0.906, 0.144}};


double clip(double v, double lo, double hi) { return std::isnan(v) ? lo : std::clamp(v, lo, hi); }


}  // namespace

void viridis(double t, uint8_t rgb[3]) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0) * 8.0;
  int k = std::min(7, static_cast<int>(t));
  double f = t - k;
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<uint8_t>(std::lround(255.0 * ((1 - f) * kViridis[k][c] + f * kViridis[k + 1][c])));
}

bool heatmap_png(const std::string& png_path, const Grid2D& g, double lo, double hi, const train::PlotSpec& spec) {
  FG_CHECK(g.nx > 0 && g.ny > 0 && static_cast<int64_t>(g.values.size()) == g.nx * g.ny,
           "heatmap {}: grid {}x{} with {} values", png_path, g.nx, g.ny, g.values.size());
  FG_CHECK(hi > lo, "heatmap {}: empty colour range [{}, {}]", png_path, lo, hi);
  if (!gnuplot_available()) {
    std::fprintf(stderr, "warning: gnuplot not found; %s is a bare image of the grid\n", png_path.c_str());
    std::vector<uint8_t> px(g.nx * g.ny * 3);
    for (int64_t j = 0; j < g.ny; ++j)
      for (int64_t i = 0; i < g.nx; ++i)
        viridis((clip(g.values[j * g.nx + i], lo, hi) - lo) / (hi - lo), &px[((g.ny - 1 - j) * g.nx + i) * 3]);
    nn::write_png(png_path, from_vector(px, {g.ny, g.nx, 3}));
    return false;
  }
  fs::path dir = gnuplot_scratch_dir("heatmap");
  fs::path data = dir / "grid.dat";
  {
    std::ofstream f(data);
    for (int64_t j = 0; j < g.ny; ++j) {
      for (int64_t i = 0; i < g.nx; ++i) f << g.x(i) << ' ' << g.y(j) << ' ' << clip(g.values[j * g.nx + i], lo, hi) << '\n';
      f << '\n';
    }
  }
  // the axes cover whole cells: half a cell beyond the outer centres
  double hx = g.nx > 1 ? 0.5 * (g.x1 - g.x0) / (g.nx - 1) : 0.5, hy = g.ny > 1 ? 0.5 * (g.y1 - g.y0) / (g.ny - 1) : 0.5;
  std::string palette = "set palette defined (";
  for (int k = 0; k < 9; ++k)
    palette += fmt::format("{}{} {} {} {}", k ? ", " : "", k, kViridis[k][0], kViridis[k][1], kViridis[k][2]);
  palette += ")\n";
  std::string script = fmt::format(
      "set terminal png size {},{}\nset output {}\nset title {}\nset xlabel {}\nset ylabel {}\n{}"
      "set cbrange [{}:{}]\nset xrange [{}:{}]\nset yrange [{}:{}]\nset size ratio -1\nunset key\n{}\n"
      "plot {} using 1:2:3 with image\n",
      spec.width, spec.height, gnuplot_quote(png_path + ".tmp"), gnuplot_quote(spec.title), gnuplot_quote(spec.xlabel), gnuplot_quote(spec.ylabel),
      palette, lo, hi, g.x0 - hx, g.x1 + hx, g.y0 - hy, g.y1 + hy, spec.extra, gnuplot_quote(data.string()));
  run_gnuplot(script, dir.string(), png_path);
  return true;
}

bool scatter_png(const std::string& png_path, const Tensor& pts, const std::string& title, double extent) {
  auto v = pts.to_vector<double>();
  train::Series s{"", {}, {}, "points pt 7 ps 0.3 lc rgb '#1f77b4'"};
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    s.x.push_back(v[i]);
    s.y.push_back(v[i + 1]);
  }
  train::PlotSpec spec{title, "x1", "x2", false, 700, 700,
                       fmt::format("set size ratio -1\nset xrange [{0}:{1}]\nset yrange [{0}:{1}]\nunset key", -extent,
                                   extent)};
  return train::plot_png(png_path, {s}, spec);
}

}  // namespace fg::app
