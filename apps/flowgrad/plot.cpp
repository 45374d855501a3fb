// flowgrad plot: training curves of one run (--metrics) or the validation bpd of several runs in
// one plot (--compare), each series titled by its run directory's name.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "flowgrad/train/plot.h"
#include "apps/flowgrad/common.h"
#include "flowgrad/tensor/error.h"

namespace fg::app::cmd {

namespace {

namespace fs = std::filesystem;

struct PlotOptions {
  CommonOptions common;
  std::string metrics, out, title;
  std::vector<std::string> compare;
};

// The run's name: its directory ("runs/a/metrics.jsonl" -> "a"), else the file's stem.
std::string run_name(const std::string& file) {
  fs::path p = fs::path(file).lexically_normal();
  fs::path dir = p.parent_path().filename();
  if (!dir.empty() && dir != "." && dir != "..") return dir.string();
  dir = fs::absolute(p).parent_path().filename();
  return dir.empty() ? p.stem().string() : dir.string();
}

// plot_training_curves draws with gnuplot's enhanced text (where _ and ^ make sub/superscripts).
std::string enhanced_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (std::string_view("_^@&~{}").find(c) != std::string_view::npos) o += '\\';
    o += c;
  }
  return o;
}

Series read_val_bpd(const std::string& file) {
  std::ifstream in(file);
  FG_CHECK(in.good(), "cannot read metrics file {}", file);
  Series s{run_name(file), {}, {}, "linespoints"};
  std::string line;
  int64_t lineno = 0, bad = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++bad;
      continue;
    }
    if (!j.contains("step") || !j.contains("val_bpd") || !j["step"].is_number() || !j["val_bpd"].is_number())
      continue;
    s.x.push_back(j["step"].get<double>());
    s.y.push_back(j["val_bpd"].get<double>());
  }
  if (bad > 0) std::fprintf(stderr, "warning: %s: skipped %lld malformed lines\n", file.c_str(), (long long)bad);
  return s;
}

int run_plot(const PlotOptions& o) {
  setup_runtime(o.common);
  std::string out = o.out.empty() ? (o.compare.empty() ? "curves.png" : "compare.png") : o.out;
  ensure_parent_dir(out);
  bool ok;
  if (!o.metrics.empty()) {
    FG_CHECK(fs::is_regular_file(o.metrics), "metrics file {} does not exist", o.metrics);
    ok = plot_training_curves(o.metrics, out, enhanced_escape(o.title.empty() ? run_name(o.metrics) : o.title));
  } else {
    std::vector<Series> series;
    for (auto& f : o.compare) {
      FG_CHECK(fs::is_regular_file(f), "metrics file {} does not exist", f);
      Series s = read_val_bpd(f);
      if (s.x.empty()) std::fprintf(stderr, "warning: %s has no val_bpd lines; left out\n", f.c_str());
      else series.push_back(std::move(s));
    }
    FG_CHECK(!series.empty(), "none of the {} metrics files has val_bpd lines", o.compare.size());
    ok = plot_png(out, series,
                  {o.title.empty() ? "validation bits per dimension" : o.title, "step", "validation bpd", false, 900, 500,
                   "set termoption noenhanced\nset key outside right top\n"});
  }
  FG_CHECK(ok, "{} not written: gnuplot is not installed (apt-get install gnuplot-nox)", out);
  report_written(out);
  return 0;
}

}  // namespace

Command add_plot_command(CLI::App& root) {
  auto o = std::make_shared<PlotOptions>();
  CLI::App* sub = root.add_subcommand("plot", "training curves of a run, or validation bpd of several runs");
  auto* m = sub->add_option("--metrics", o->metrics, "one run's metrics.jsonl: train and validation bpd");
  auto* c = sub->add_option("--compare", o->compare, "several runs' metrics.jsonl: validation bpd in one plot")
                ->expected(1, 1000);
  m->excludes(c);
  c->excludes(m);
  sub->add_option("--out", o->out, "output PNG (default: curves.png, or compare.png with --compare)");
  sub->add_option("--title", o->title, "plot title (default: the run's name)");
  add_common_options(sub, o->common, false);
  sub->callback([sub] {
    if (sub->count("--metrics") + sub->count("--compare") == 0)
      throw CLI::ValidationError("give --metrics FILE or --compare FILE...");
  });
  return {sub, [o] { return run_plot(*o); }};
}

}  // namespace fg::app::cmd
