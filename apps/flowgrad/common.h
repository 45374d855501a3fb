// Shared pieces of the flowgrad subcommands: the options every subcommand takes, the runtime setup
// they imply, checkpoint loading with the program's error wording, and output helpers.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/cli_parse.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/nn/mnist.h"

namespace fg::app::cmd {

// A registered subcommand: its CLI11 node and what to run once it has been parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

struct CommonOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: OMP_NUM_THREADS or all cores
  uint64_t seed = 42;
};

// Adds --device and --threads (and --seed when `with_seed`) to a subcommand.
void add_common_options(CLI::App* sub, CommonOptions& o, bool with_seed = true);

// Adds --scale (each image pixel drawn as scale x scale PNG pixels) for the image-grid subcommands.
void add_scale_option(CLI::App* sub, int& scale);

// Applies --threads, checks that --device is usable (throws fg::Error otherwise), seeds the default
// generator with --seed and returns the device.
Device setup_runtime(const CommonOptions& o);

// load_model(path) with a check that the file exists first (one clear line when it does not).
flows::LoadedModel load_checkpoint_model(const std::string& path, Device dev);

// The MNIST directory from --data (resolve_mnist_dir) and one split of it.
nn::MnistData load_split(const std::string& data_dir, const std::string& split);

// `n` distinct indices in [0, size), drawn with std::mt19937_64(seed) (partial Fisher-Yates).
std::vector<int64_t> pick_indices(int64_t size, int64_t n, uint64_t seed);
// images[idx] stacked into [idx.size(), C, H, W].
Tensor gather_images(const Tensor& images, const std::vector<int64_t>& idx);

// Creates the parent directory of `path` if needed.
void ensure_parent_dir(const std::string& path);
// Prints "wrote PATH" on stdout.
void report_written(const std::string& path);

// Subcommand registrations (one file each).
Command add_sample_command(CLI::App& root);
Command add_interpolate_command(CLI::App& root);
Command add_latents_command(CLI::App& root);
Command add_dequant_hist_command(CLI::App& root);
Command add_plot_command(CLI::App& root);
Command add_info_command(CLI::App& root);

}  // namespace fg::app::cmd
