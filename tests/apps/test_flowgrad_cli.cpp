// End to end tests of the flowgrad program (FLOWGRAD_BIN): each subcommand on tiny checkpoints the
// test writes itself (untrained simple and multiscale models), output files and their contents,
// exit codes (2 for a bad command line, 1 for runtime errors) and one-line error messages.
// interpolate and dequant-hist need MNIST and are skipped without it.
#include <doctest/doctest.h>

#include "test_support.h"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "flowgrad/flows/models.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/nn/mnist.h"

using namespace fg;
namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string flowgrad_bin() {
  const char* b = std::getenv("FLOWGRAD_BIN");
  if (b && *b) return b;
  for (const char* p : {"apps/flowgrad", "../apps/flowgrad", "build/apps/flowgrad"})
    if (fs::exists(p)) return fs::absolute(p).string();
  return "";
}

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
  int lines() const { return static_cast<int>(std::count(out.begin(), out.end(), '\n')); }
};

Result run(const std::string& args) {
  std::string bin = flowgrad_bin();
  REQUIRE_MESSAGE(!bin.empty(), "set FLOWGRAD_BIN to the flowgrad executable");
  std::string cmd = quote(bin) + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  INFO("$ flowgrad ", args, "\n", r.out);
  return r;
}

// The error's stderr line (the last line of the output).
std::string last_line(const Result& r) {
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  auto pos = s.rfind('\n');
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

const fs::path& tmp() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("flowgrad-cli-test-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

struct Cleanup {
  ~Cleanup() {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("flowgrad-cli-test-" + std::to_string(getpid())), ec);
  }
} cleanup;

std::string checkpoint(const std::string& name) {
  fs::path p = tmp() / (name + ".safetensors");
  if (!fs::exists(p)) {
    flows::ModelConfig cfg;
    cfg.name = name;
    auto model = flows::build_image_model(cfg);
    nn::save_checkpoint(p.string(), *model, nullptr, {{"config", flows::config_to_json(cfg)}, {"val_bpd", "nan"}});
  }
  return p.string();
}

// a class-conditional checkpoint (untrained)
std::string conditional_checkpoint(const std::string& name, flows::Conditioning c) {
  fs::path p = tmp() / (name + "-" + flows::conditioning_name(c) + ".safetensors");
  if (!fs::exists(p)) {
    flows::ModelConfig cfg;
    cfg.name = name;
    cfg.conditioning = c;
    auto model = flows::build_image_model(cfg);
    nn::save_checkpoint(p.string(), *model, nullptr, {{"config", flows::config_to_json(cfg)}, {"val_bpd", "nan"}});
  }
  return p.string();
}

std::string mnist_dir() { return fg::test::mnist_dir(); }

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// tile (row, col) of a --scale 1 grid of 28x28 images (2 pixels of padding), as 784 bytes
std::vector<int> tile(const Tensor& grid, int64_t row, int64_t col) {
  auto v = grid.to_vector<int>();
  const int64_t gw = grid.size(1), c = grid.size(2);
  std::vector<int> out;
  for (int64_t y = 0; y < 28; ++y)
    for (int64_t x = 0; x < 28; ++x) out.push_back(v[((row * 30 + 2 + y) * gw + (col * 30 + 2 + x)) * c]);
  return out;
}

double fraction_equal(const std::vector<int>& a, const std::vector<int>& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

// the grid make_grid draws: cols x rows tiles of 28x28 with 2 pixels of padding, times --scale
void check_grid(const std::string& png, int64_t cols, int64_t rows, int64_t scale) {
  REQUIRE(fs::exists(png));
  Tensor img = nn::read_png(png);
  CHECK(img.size(0) == (rows * 30 + 2) * scale);
  CHECK(img.size(1) == (cols * 30 + 2) * scale);
}

struct Csv {
  std::vector<double> bin, density;
  std::vector<int64_t> count;
};

Csv read_csv(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  CHECK(line == "bin,count,density");
  Csv c;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string a, b, d;
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    std::getline(ss, d, ',');
    c.bin.push_back(std::stod(a));
    c.count.push_back(std::stoll(b));
    c.density.push_back(std::stod(d));
  }
  return c;
}

std::string data_arg() { return " --data " + quote(mnist_dir()); }

}  // namespace

TEST_CASE("flowgrad info prints the configuration and passes its self-check") {
  Result r = run("info --threads 2");
  CHECK(r.code == 0);
  CHECK(r.out.find("cpu threads: 2") != std::string::npos);
  CHECK(r.out.find("gradcheck tanh(matmul)") != std::string::npos);
  CHECK(r.out.find("FAILED") == std::string::npos);
}

TEST_CASE("flowgrad sample writes a PNG grid of n images") {
  std::string out = (tmp() / "sub dir" / "samples.png").string();  // parent created, space quoted
  Result r = run("sample --checkpoint " + quote(checkpoint("simple")) + " --n 3 --nrow 2 --seed 7 --scale 1 --threads 2 --out " +
                 quote(out));
  REQUIRE(r.code == 0);
  CHECK(r.out.find("wrote " + out) != std::string::npos);
  check_grid(out, 2, 2, 1);
  // the same seed gives the same images
  std::string again = (tmp() / "samples2.png").string();
  REQUIRE(run("sample --checkpoint " + quote(checkpoint("simple")) + " --n 3 --nrow 2 --seed 7 --scale 1 --out " + quote(again))
              .code == 0);
  Tensor a = nn::read_png(out), b = nn::read_png(again);
  CHECK(a.to_vector<int>() == b.to_vector<int>());
}

TEST_CASE("flowgrad sample: a lower temperature gives less varied images") {
  auto pixel_std = [](const std::string& png) {  // over the images' pixels (not the padding)
    Tensor g = nn::read_png(png);
    std::vector<double> v;
    for (int64_t col = 0; col < 4; ++col)
      for (int x : tile(g, 0, col)) v.push_back(x);
    double m = 0, q = 0;
    for (double x : v) m += x / static_cast<double>(v.size());
    for (double x : v) q += (x - m) * (x - m) / static_cast<double>(v.size());
    return std::sqrt(q);
  };
  std::string cold = (tmp() / "cold.png").string(), hot = (tmp() / "hot.png").string();
  REQUIRE(run("sample --checkpoint " + quote(checkpoint("simple")) + " --n 4 --scale 1 --temperature 0.2 --out " +
              quote(cold)).code == 0);
  REQUIRE(run("sample --checkpoint " + quote(checkpoint("simple")) + " --n 4 --scale 1 --temperature 1.5 --out " +
              quote(hot)).code == 0);
  CHECK(pixel_std(cold) < 0.5 * pixel_std(hot));
}

TEST_CASE("flowgrad sample on a flow-matching checkpoint: --solver and --nfe set the ODE solve") {
  std::string out = (tmp() / "fm.png").string();
  Result r = run("sample --checkpoint " + quote(checkpoint("ot-cfm")) + " --n 2 --solver rk4 --nfe 8 --scale 1 --out " +
                 quote(out));
  REQUIRE(r.code == 0);
  CHECK(r.out.find("rk4 with 8 function evaluations") != std::string::npos);
  check_grid(out, 2, 1, 1);
  Result bad = run("sample --checkpoint " + quote(checkpoint("ot-cfm")) + " --solver rk4 --nfe 6");
  CHECK(bad.code == 1);
  CHECK(bad.out.find("multiple of") != std::string::npos);
  Result refused = run("latents --checkpoint " + quote(checkpoint("ot-cfm")));
  CHECK(refused.code == 1);
  CHECK(refused.out.find("needs a normalizing flow") != std::string::npos);
}

TEST_CASE("flowgrad latents: rows share the final latent; models without a split are refused") {
  std::string out = (tmp() / "latents.png").string();
  Result r = run("latents --checkpoint " + quote(checkpoint("multiscale")) + " --n 2 --variations 3 --out " +
                 quote(out));
  REQUIRE(r.code == 0);
  check_grid(out, 3, 2, 3);  // the default --scale
  // Untrained, every coupling is the identity, so the pixels the final latent decodes to (half
  // of them: multiscale's one split factors out half of the 4 x 14 x 14 channels) are the same
  // across a row, the split variables' pixels differ, and rows differ from each other.
  std::string one = (tmp() / "latents1.png").string();
  REQUIRE(run("latents --checkpoint " + quote(checkpoint("multiscale")) + " --n 2 --variations 3 --scale 1 --out " +
              quote(one)).code == 0);
  Tensor g = nn::read_png(one);
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t col = 1; col < 3; ++col) {
      double f = fraction_equal(tile(g, row, 0), tile(g, row, col));
      INFO("row ", row, " col ", col, ": ", f, " of the pixels equal the row's first image");
      CHECK(f >= 0.5);
      CHECK(f < 0.9);
    }
  CHECK(fraction_equal(tile(g, 0, 0), tile(g, 1, 0)) < 0.5);
  Result bad = run("latents --checkpoint " + quote(checkpoint("simple")) + " --n 1 --out " + quote(out));
  CHECK(bad.code == 1);
  CHECK(bad.lines() == 1);
  CHECK(bad.out.find("no SplitFlow") != std::string::npos);
}

TEST_CASE("bad command lines exit 2 with one line; bad checkpoints exit 1 with one line") {
  std::string ck = quote(checkpoint("simple"));
  std::vector<std::string> bad_args = {
      std::string(""), std::string("frobnicate"), std::string("sample"), "sample --checkpoint " + ck + " --n 0",
        "sample --checkpoint " + ck + " --bogus", "sample --checkpoint " + ck + " --device tpu",
        "sample --checkpoint " + ck + " --temperature -1", "interpolate --checkpoint " + ck + " --steps 1",
        "plot", "plot --metrics a.jsonl --compare b.jsonl", "dequant-hist --checkpoint " + ck + " --draws x"};
  for (const std::string& args : bad_args) {
    Result r = run(args);
    INFO("args: ", args, "\n", r.out);
    CHECK(r.code == 2);
    CHECK(r.lines() == 1);
    CHECK(r.out.rfind("flowgrad", 0) == 0);
  }
  Result missing = run("sample --checkpoint " + quote((tmp() / "nope.safetensors").string()));
  CHECK(missing.code == 1);
  CHECK(missing.lines() == 1);
  CHECK(missing.out.find("nope.safetensors") != std::string::npos);

  fs::path corrupt = tmp() / "corrupt.safetensors";
  std::ofstream(corrupt) << "this is not a checkpoint";
  Result c = run("sample --checkpoint " + quote(corrupt.string()));
  CHECK(c.code == 1);
  CHECK(c.lines() == 1);
  CHECK(last_line(c).find("corrupt.safetensors") != std::string::npos);

  // a checkpoint whose weights do not fit its config
  fs::path wrong = tmp() / "wrong.safetensors";
  flows::ModelConfig cfg;
  cfg.name = "vardeq";
  nn::save_checkpoint(wrong.string(), *flows::build_model({"simple"}), nullptr,
                      {{"config", flows::config_to_json(cfg)}});
  Result w = run("sample --checkpoint " + quote(wrong.string()));
  CHECK(w.code == 1);
  CHECK(w.lines() == 1);
}

TEST_CASE("flowgrad plot: one run's curves and a comparison of runs" * doctest::skip(!have_gnuplot()) *
          doctest::description("needs gnuplot (tools/bootstrap installs it)")) {
  for (const char* run_dir : {"runA", "runB"}) {
    fs::create_directories(tmp() / run_dir);
    std::ofstream f(tmp() / run_dir / "metrics.jsonl");
    for (int s = 10; s <= 50; s += 10) {
      f << "{\"step\": " << s << ", \"train_bpd\": " << 3.0 - s * 0.01 << "}\n";
      if (s % 20 == 0) f << "{\"step\": " << s << ", \"val_bpd\": " << 2.5 - s * 0.01 + (run_dir[3] - 'A') << "}\n";
    }
  }
  std::string a = (tmp() / "runA" / "metrics.jsonl").string(), b = (tmp() / "runB" / "metrics.jsonl").string();
  std::string curves = (tmp() / "curves.png").string(), cmp = (tmp() / "compare.png").string();
  Result r1 = run("plot --metrics " + quote(a) + " --out " + quote(curves));
  Result r2 = run("plot --compare " + quote(a) + " " + quote(b) + " --out " + quote(cmp));
  REQUIRE(r1.code == 0);
  REQUIRE(r2.code == 0);
  CHECK(nn::read_png(curves).size(1) > 100);
  CHECK(nn::read_png(cmp).size(1) > 100);
  Result none = run("plot --metrics " + quote((tmp() / "missing.jsonl").string()));
  CHECK(none.code == 1);
  CHECK(none.lines() == 1);
}

TEST_CASE("flowgrad interpolate: one row per pair of test images" * doctest::skip(mnist_dir().empty()) *
          doctest::description("needs MNIST (tools/fetch_mnist); skipped without it")) {
  std::string out = (tmp() / "interp.png").string();
  Result r = run("interpolate --checkpoint " + quote(checkpoint("simple")) + " --pairs 2 --steps 3 --scale 2" + data_arg() +
                 " --out " + quote(out));
  REQUIRE(r.code == 0);
  check_grid(out, 3, 2, 2);
  // a --data directory without MNIST is a runtime error
  Result bad = run("interpolate --checkpoint " + quote(checkpoint("simple")) + " --data " +
                   quote((tmp() / "no-mnist").string()));
  CHECK(bad.code == 1);
  CHECK(bad.lines() == 1);
}

TEST_CASE("flowgrad dequant-hist: histograms count every dequantized value" * doctest::skip(mnist_dir().empty()) *
          doctest::description("needs MNIST (tools/fetch_mnist); skipped without it")) {
  for (const char* model : {"simple", "multiscale"}) {
    INFO(model);
    std::string prefix = (tmp() / (std::string("dq_") + model)).string();
    Result r = run("dequant-hist --checkpoint " + quote(checkpoint(model)) + " --images 3 --draws 2" + data_arg() +
                   " --out-prefix " + quote(prefix));
    REQUIRE(r.code == 0);
    Csv v = read_csv(prefix + ".csv"), u = read_csv(prefix + "_frac.csv"), l = read_csv(prefix + "_logit.csv");
    const int64_t total = 3 * 2 * 784;
    CHECK(v.count.size() == 256);
    CHECK(u.count.size() == 50);
    CHECK(l.count.size() == 256);
    CHECK(std::accumulate(v.count.begin(), v.count.end(), int64_t{0}) == total);
    CHECK(std::accumulate(u.count.begin(), u.count.end(), int64_t{0}) == total);
    CHECK(std::accumulate(l.count.begin(), l.count.end(), int64_t{0}) == total);
    CHECK(v.bin[0] == 0);
    CHECK(v.bin[255] == 255);
    // densities integrate to one
    CHECK(std::accumulate(u.density.begin(), u.density.end(), 0.0) / 50 == doctest::Approx(1.0));
    // MNIST is mostly black: bin 0 holds the most values
    CHECK(std::max_element(v.count.begin(), v.count.end()) == v.count.begin());
    // untrained: uniform noise (the variational flow starts as the identity), mean ~0.5
    auto pos = r.out.find("u mean ");
    REQUIRE(pos != std::string::npos);
    CHECK(std::stod(r.out.substr(pos + 7)) == doctest::Approx(0.5).epsilon(0.05));
    CHECK(r.out.find(std::string(model) == "simple" ? "uniform dequantization" : "variational dequantization") !=
          std::string::npos);
    if (have_gnuplot()) {
      CHECK(fs::exists(prefix + ".png"));
      CHECK(fs::exists(prefix + "_frac.png"));
      CHECK(fs::exists(prefix + "_logit.png"));
    }
  }
}

TEST_CASE("class-conditional checkpoints: sample --class, the class grid, latents; --class on an unconditional one") {
  const std::string ck = conditional_checkpoint("multiscale", flows::Conditioning::Both);
  fs::path one = tmp() / "class7.png", grid = tmp() / "classgrid.png", lat = tmp() / "clat.png";
  Result r = run("sample --checkpoint " + quote(ck) + " --class 7 --n 4 --nrow 4 --scale 1 --out " + quote(one.string()));
  REQUIRE(r.code == 0);
  check_grid(one.string(), 4, 1, 1);
  r = run("sample --checkpoint " + quote(ck) + " --nrow 2 --scale 1 --out " + quote(grid.string()));
  REQUIRE(r.code == 0);
  check_grid(grid.string(), 2, 10, 1);  // one row per class
  r = run("latents --checkpoint " + quote(ck) + " --n 2 --variations 2 --scale 1 --out " + quote(lat.string()));
  CHECK(r.code == 0);
  r = run("sample --checkpoint " + quote(ck) + " --class 10 --n 2");
  CHECK(r.code == 1);
  CHECK(last_line(r).find("classes 0..9") != std::string::npos);
  r = run("sample --checkpoint " + quote(checkpoint("simple")) + " --class 3 --n 2");
  CHECK(r.code == 1);
  CHECK(r.lines() == 1);
  CHECK(last_line(r).find("unconditional") != std::string::npos);
}

TEST_CASE("flowgrad interpolate on a class-conditional checkpoint" * doctest::skip(mnist_dir().empty())) {
  const std::string ck = conditional_checkpoint("simple", flows::Conditioning::Prior);
  fs::path out = tmp() / "cinterp.png";
  Result r = run("interpolate --checkpoint " + quote(ck) + data_arg() + " --pairs 1 --steps 3 --scale 1 --out " +
                 quote(out.string()));
  CHECK(r.code == 0);
  check_grid(out.string(), 3, 1, 1);
}
