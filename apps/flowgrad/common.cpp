#include "apps/flowgrad/common.h"

#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "flowgrad/tensor/ops.h"

namespace fg::app::cmd {

namespace fs = std::filesystem;

void add_common_options(CLI::App* sub, CommonOptions& o, bool with_seed) {
  add_device_option(*sub, o.device);
  sub->add_option("--threads", o.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  if (with_seed) sub->add_option("--seed", o.seed, "random seed")->capture_default_str();
}

void add_scale_option(CLI::App* sub, int& scale) {
  sub->add_option("--scale", scale, "PNG pixels per image pixel (each way)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
}

Device setup_runtime(const CommonOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  Device dev = open_device(o.device);
  manual_seed(o.seed);
  return dev;
}

flows::LoadedModel load_checkpoint_model(const std::string& path, Device dev) {
  std::error_code ec;
  FG_CHECK(fs::exists(path, ec), "checkpoint {} does not exist", path);
  FG_CHECK(fs::is_regular_file(path, ec), "checkpoint {} is not a file", path);
  return flows::load_model(path, dev);
}

nn::MnistData load_split(const std::string& data_dir, const std::string& split) {
  return nn::load_mnist(nn::resolve_mnist_dir(data_dir), split);
}

std::vector<int64_t> pick_indices(int64_t size, int64_t n, uint64_t seed) {
  FG_CHECK(n <= size, "asked for {} distinct images from a set of {}", n, size);
  std::vector<int64_t> idx(static_cast<size_t>(size));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<int64_t> d(i, size - 1);
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(d(rng))]);
  }
  idx.resize(static_cast<size_t>(n));
  return idx;
}

Tensor gather_images(const Tensor& images, const std::vector<int64_t>& idx) {
  std::vector<Tensor> parts;
  parts.reserve(idx.size());
  for (int64_t i : idx) parts.push_back(slice(images, 0, i, i + 1));
  return concat(parts, 0);
}

void ensure_parent_dir(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
}

void report_written(const std::string& path) {
  std::printf("wrote %s\n", path.c_str());
  std::fflush(stdout);
}

}  // namespace fg::app::cmd
