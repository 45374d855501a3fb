// Plots drawn by gnuplot (Debian's gnuplot-nox, PNG terminal): the program writes the data and a
// script to a temporary directory and runs gnuplot on it.
#pragma once
#include <cmath>
#include <string>
#include <vector>

namespace fg::train {

struct Series {
  std::string title;
  std::vector<double> x, y;
  std::string style = "lines";  // gnuplot style: lines, linespoints, boxes, steps
};

struct PlotSpec {
  std::string title, xlabel, ylabel;
  bool logy = false;
  int width = 900, height = 500;
  std::string extra;  // more gnuplot commands (e.g. "set xrange [0:255]")
  double ylo = NAN, yhi = NAN;  // the y range (NaN: gnuplot's own)
};

// The shared gnuplot plumbing: whether gnuplot is installed, quoting for its scripts, a scratch
// directory, and running a script that writes png_path + ".tmp" (moved into place on success;
// gnuplot's stderr in the error otherwise). The scratch directory is removed either way.
bool gnuplot_available();
std::string gnuplot_quote(const std::string& s);
std::string gnuplot_scratch_dir(const char* what);
void run_gnuplot(const std::string& script, const std::string& dir, const std::string& png_path);

// Returns false (with a warning on stderr) when gnuplot is not installed; throws when it fails.
bool plot_png(const std::string& png_path, const std::vector<Series>& series, const PlotSpec& spec);

// The y range a training curve should show: the values after the first `skip` fraction of the
// steps (where the loss falls fast, from 10x the later values) set the top, all values the bottom,
// with a margin of 5%; `clipped` says whether earlier points lie above it. Fewer than 20 points:
// the full range.
struct YRange {
  double lo = NAN, hi = NAN;
  bool clipped = false;
};
YRange focus_range(const std::vector<Series>& series, double skip = 0.1);

// Training curves from a metrics.jsonl: every "train_*" key per logged step (with a running mean
// over 2% of the steps) and every "val_*" key per validation, on a linear axis focused by
// focus_range (so the 1.1-1.5 bpd a run spends most of its time in fills the plot).
bool plot_training_curves(const std::string& metrics_jsonl, const std::string& png_path, const std::string& title);

}  // namespace fg::train
