#include "flowgrad/train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include "flowgrad/tensor/error.h"

namespace fg::train {

namespace fs = std::filesystem;

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string gnuplot_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

std::string gnuplot_scratch_dir(const char* what) {
  fs::path dir = fs::temp_directory_path() / fmt::format("flowgrad-{}-{}", what, static_cast<long>(getpid()));
  fs::create_directories(dir);
  return dir.string();
}

void run_gnuplot(const std::string& script, const std::string& dir_s, const std::string& png_path) {
  fs::path dir(dir_s), sp = dir / "plot.gp";
  std::ofstream(sp) << script;
  std::string cmd =
      fmt::format("gnuplot {} 2>{}", gnuplot_quote(sp.string()), gnuplot_quote((dir / "err.txt").string()));
  int rc = std::system(cmd.c_str());
  std::string err;
  if (rc != 0) {
    std::ifstream e(dir / "err.txt");
    err.assign(std::istreambuf_iterator<char>(e), {});
  }
  fs::remove_all(dir);
  FG_CHECK(rc == 0, "gnuplot failed for {}: {}", png_path, err);
  fs::rename(png_path + ".tmp", png_path);
}

namespace {
std::string quote(const std::string& s) { return gnuplot_quote(s); }
}  // namespace

bool plot_png(const std::string& png_path, const std::vector<Series>& series, const PlotSpec& spec) {
  if (!gnuplot_available()) {
    std::fprintf(stderr, "warning: gnuplot not found (apt-get install gnuplot-nox); skipped %s\n", png_path.c_str());
    return false;
  }
  fs::path dir = gnuplot_scratch_dir("plot");
  std::string script = fmt::format("set terminal png size {},{} noenhanced\nset output {}\nset title {}\nset xlabel {}\n"
                                   "set ylabel {}\nset grid\nset key top right\n{}{}{}\n",
                                   spec.width, spec.height, quote(png_path + ".tmp"), quote(spec.title),
                                   quote(spec.xlabel), quote(spec.ylabel), spec.logy ? "set logscale y\n" : "",
                                   std::isfinite(spec.ylo) && std::isfinite(spec.yhi)
                                       ? fmt::format("set yrange [{}:{}]\n", spec.ylo, spec.yhi)
                                       : "",
                                   spec.extra);
  std::vector<std::string> parts;
  for (size_t i = 0; i < series.size(); ++i) {
    fs::path data = dir / fmt::format("s{}.dat", i);
    std::ofstream f(data);
    for (size_t k = 0; k < series[i].x.size(); ++k) f << series[i].x[k] << ' ' << series[i].y[k] << '\n';
    if (!series[i].x.empty())
      parts.push_back(fmt::format("{} using 1:2 with {} title {}", quote(data.string()), series[i].style,
                                  quote(series[i].title)));
  }
  FG_CHECK(!parts.empty(), "plot {}: no data to plot", png_path);
  script += "plot " + fmt::format("{}", fmt::join(parts, ", ")) + "\n";
  run_gnuplot(script, dir.string(), png_path);
  return true;
}

YRange focus_range(const std::vector<Series>& series, double skip) {
  double x0 = INFINITY, x1 = -INFINITY;
  size_t points = 0;
  for (const Series& s : series)
    for (size_t k = 0; k < s.x.size(); ++k) {
      x0 = std::min(x0, s.x[k]);
      x1 = std::max(x1, s.x[k]);
      ++points;
    }
  YRange r;
  if (points < 20) return r;
  const double cut = x0 + skip * (x1 - x0);
  double lo = INFINITY, hi = -INFINITY, all_hi = -INFINITY;
  for (const Series& s : series)
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.y[k])) continue;
      lo = std::min(lo, s.y[k]);
      all_hi = std::max(all_hi, s.y[k]);
      if (s.x[k] >= cut) hi = std::max(hi, s.y[k]);
    }
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi <= lo) return r;
  const double pad = 0.05 * (hi - lo);
  r.lo = lo - pad;
  r.hi = hi + pad;
  r.clipped = all_hi > r.hi;
  return r;
}

namespace {
// the mean of the last `window` values at each point
Series running_mean(const Series& s, size_t window) {
  Series m{s.title + " (running mean)", {}, {}, "lines lw 2"};
  double sum = 0;
  for (size_t k = 0; k < s.y.size(); ++k) {
    sum += s.y[k];
    if (k >= window) sum -= s.y[k - window];
    m.x.push_back(s.x[k]);
    m.y.push_back(sum / static_cast<double>(std::min(k + 1, window)));
  }
  return m;
}
}  // namespace

bool plot_training_curves(const std::string& metrics, const std::string& png, const std::string& title) {
  std::ifstream in(metrics);
  FG_CHECK(in.good(), "cannot read metrics file {}", metrics);
  // one series per "train_*" and "val_*" key with numeric values (a skipped step logs null)
  std::map<std::string, Series> series;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || !j["step"].is_number()) continue;
    const double step = j["step"].get<double>();
    for (auto& [k, v] : j.items()) {
      const bool train = k.rfind("train_", 0) == 0, val = k.rfind("val_", 0) == 0;
      if ((!train && !val) || !v.is_number()) continue;
      Series& s = series[k];
      if (s.title.empty()) {
        s.title = (train ? "train " : "validation ") + k.substr(train ? 6 : 4);
        s.style = train ? "lines lc rgb '#c0c0c0'" : "linespoints lw 2";
      }
      s.x.push_back(step);
      s.y.push_back(v.get<double>());
    }
  }
  std::vector<Series> all;
  bool bpd = false;
  for (auto& [k, s] : series) {
    bpd = bpd || k.find("bpd") != std::string::npos;
    all.push_back(s);
    if (k.rfind("train_", 0) == 0 && s.y.size() >= 100) all.push_back(running_mean(s, s.y.size() / 50));
  }
  const YRange r = focus_range(all);
  PlotSpec spec;
  spec.title = r.clipped ? title + " (the first steps run above the top)" : title;
  spec.xlabel = "step";
  spec.ylabel = bpd ? "bits per dimension" : "loss";
  spec.ylo = r.lo;
  spec.yhi = r.hi;
  return plot_png(png, all, spec);
}

}  // namespace fg::train
