// train_mnist: trains one of the tutorial's flows (or a flow-matching model) on MNIST and
// evaluates it (see --help). Every input is checked before the first step: all four MNIST files,
// the checkpoint to resume, the output directory's writability and the device.
#include <cstdio>
#include <filesystem>

#include "apps/common/cli.h"
#include "apps/common/cli_parse.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/nn/image.h"
#include "apps/train_mnist/evaluate.h"
#include "apps/train_mnist/trainer.h"
#include "flowgrad/flows/continuous/image_fm.h"
#include "flowgrad/dist/session.h"
#include "flowgrad/nn/atomic_file.h"

using namespace fg;
using namespace fg::app;

namespace {

// A directory we can create files in: made if missing, probed with an atomic write.
void check_writable_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  FG_CHECK(!ec && std::filesystem::is_directory(dir), "--out {}: cannot create the directory: {}", dir, ec.message());
  const std::string probe = dir + "/.write_probe";
  try {
    nn::atomic_write_file(probe, std::string_view("ok"));
  } catch (const Error& e) {
    fail(fmt::format("--out {}: the directory is not writable ({})", dir, e.what()));
  }
  std::filesystem::remove(probe, ec);
}

// Flow matching: sample grids at several solver settings (NFE), one PNG each.
void fm_sample_grids(flows::ImageModel& model, const TrainOptions& o, const std::string& dir) {
  struct Setting {
    const char* solver;
    int64_t steps;
  };
  const Setting settings[] = {{"euler", 1}, {"euler", 10}, {"euler", 100}, {"rk4", 25}, {"dopri5", 0}};
  for (const Setting& s : settings) {
    flows::SampleOptions so = sample_options(o);
    so.solver.method = flows::ode::parse_method(s.solver);
    so.solver.steps = s.steps;
    Generator g(o.seed);
    so.generator = &g;
    int64_t nfe = 0;
    so.nfe = &nfe;
    Tensor imgs = generate_grid(model, 64, so);
    std::string name = s.steps > 0 ? fmt::format("samples_{}{}.png", s.solver, s.steps) : std::string("samples_dopri5.png");
    nn::write_image_grid(dir + "/" + name, imgs, 8, 3);
    std::fprintf(stderr, "wrote %s/%s (%ld function evaluations)\n", dir.c_str(), name.c_str(), static_cast<long>(nfe));
  }
}

// The test bpd over all ranks (each takes its rows of every test batch); rank 0 alone times the
// model and writes results.json and the flow-matching sample grids.
int evaluate_checkpoint(const TrainOptions& o, const std::string& ckpt, const nn::MnistData& test) {
  flows::LoadedModel lm = flows::load_model(ckpt, Device::parse(o.device));
  EvalResult r;
  r.model = lm.config.name;
  r.params = lm.model->num_parameters();
  r.import_samples = o.model.import_samples;
  auto it = lm.checkpoint.meta.find("val_score");
  if (it != lm.checkpoint.meta.end()) r.val_bpd = std::strtod(it->second.c_str(), nullptr);
  if (lm.config.flow_matching()) {
    auto* fm = dynamic_cast<flows::ImageFM*>(lm.model.get());
    fm->bpd_solver.atol = fm->bpd_solver.rtol = r.bpd_tol = o.bpd_tol;
    r.val_bpd = NAN;  // its validation score is the matching loss, not a bpd
  }
  if (lm.model->num_classes() > 0) {
    // the generative classifier: log p(x | y) for every class, on the same dequantization draws
    EvalRandomness rnd(o.seed);
    ClassifierResult c = evaluate_classifier(*lm.model, test, o.batch, o.test_batches, o.model.import_samples);
    r.conditional = flows::conditioning_name(lm.config.conditioning);
    r.test_bpd = c.cond_bpd;
    r.uncond_bpd = c.uncond_bpd;
    r.accuracy = c.accuracy;
  } else {
    EvalRandomness rnd(o.seed);
    BpdEstimate e = mean_test_bpd(*lm.model, test, o.batch, o.test_batches, o.model.import_samples, "test");
    r.test_bpd = e.mean;
    r.test_bpd_se = e.se;
    r.test_bpd_seconds = e.seconds;
    if (auto* fm = dynamic_cast<flows::ImageFM*>(lm.model.get())) r.bpd_nfe = fm->last_bpd_nfe;
  }
  r.test_images = o.test_batches > 0 ? std::min(test.size(), o.test_batches * o.batch) : test.size();
  if (dist::world().rank() != 0) return 0;
  time_model(*lm.model, lm.config.flow_matching(), test, o, r);
  print_results_table(r);
  save_results_json(o.out + "/results.json", r);
  std::fprintf(stderr, "wrote %s/results.json\n", o.out.c_str());
  if (lm.config.flow_matching()) fm_sample_grids(*lm.model, o, o.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  TrainOptions o;
  int code = 0;
  try {
    if (!parse_train_options(argc, argv, o, code)) return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mnist: %s (see --help)\n", e.what());
    return 2;
  }
  dist::Session session({o.dist.timeout_s}, &argc, &argv);  // MPI under mpirun; before run_main (rank errors abort)
  return run_main("train_mnist", [&] {
    if (o.threads > 0) set_num_threads(o.threads);
    Device dev = session.use_device(open_device(o.device));
    o.device = dev.str();
    const bool lead = dist::world().rank() == 0;
    std::string dir = nn::resolve_mnist_dir(o.data);
    // all four files now: a corrupt test file fails here, not after training
    nn::MnistData test = nn::load_mnist(dir, "test");
    if (!o.eval_only.empty()) {
      flows::load_model(o.eval_only, dev);  // the checkpoint loads, and results.json can be written, before any work
      if (lead) check_writable_dir(o.out);
      return evaluate_checkpoint(o, o.eval_only, test);
    }
    nn::MnistData all = nn::load_mnist(dir, "train");
    if (!o.resume.empty()) nn::load_checkpoint(o.resume);  // readable and intact, before the first step
    if (lead) check_writable_dir(o.out);
    auto [train_set, val_set] = nn::split_train_val(all, o.train_size, 42);
    TrainOutcome t = run_training(o, train_set, val_set);
    if (t.exit_code != 0 || !o.test || t.best_checkpoint.empty()) return t.exit_code;
    return evaluate_checkpoint(o, t.best_checkpoint, test);
  });
}
