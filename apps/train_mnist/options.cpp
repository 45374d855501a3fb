#include "apps/train_mnist/options.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "apps/common/cli_parse.h"

#include "apps/common/cli.h"

namespace fg::app {

bool parse_train_options(int argc, char** argv, TrainOptions& o, int& exit_code) {
  CLI::App app{"train_mnist: train and evaluate the tutorial's normalizing flows (and flow-matching models) on MNIST.\n"
               "Outputs in --out: metrics.jsonl, samples_*.png, curves.png, last/best checkpoints, results.json."};
  app.set_help_flag("-h,--help", "print this help and exit");
  std::string model = o.model.name, arch = "v2", time_limit;
  std::string models_help = "the model (--model-specific options below):";
  for (const flows::ModelEntry& e : flows::model_registry())
    models_help += fmt::format("\n  {:<11} {} ({})", e.name, e.help, flows::family_name(e.family));
  app.add_option("--model", model, models_help)->check(CLI::IsMember(flows::model_names()))->capture_default_str();
  app.add_option("--arch", arch, "GatedConv variant: v1 (the seed's code) or v2 (the revised tutorial)")
      ->check(CLI::IsMember({"v1", "v2"}))
      ->capture_default_str();
  app.add_flag("--additive", o.model.additive, "NICE additive couplings instead of affine");
  std::string conditional = "none";
  app.add_option("--conditional", conditional,
                 "class-conditional coupling flow (simple, vardeq, multiscale, glow): a per-class Gaussian base at "
                 "the top and every split (prior), a class embedding in every coupling net (coupling), or both "
                 "(the default when given bare)")
      ->expected(0, 1)  // bare: "" (no default_str, which CLI11 would substitute), read as both
      ->check(CLI::IsMember({"none", "prior", "coupling", "both", ""}));
  app.add_flag("--init-class-priors", o.init_class_priors,
               "with --conditional prior or both: start each class's Gaussian at the class's latent means of 512 "
               "training images (pooled spread) instead of N(0, I): the classifier is accurate after a few steps, "
               "the bpd falls slower at first");
  app.add_option("--cfg-drop", o.model.cfg_drop,
                 "fm, ot-cfm with --conditional: probability of dropping a label to the null class in training "
                 "(classifier-free guidance)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  // each registered model's own options, spelled with dashes (glow_k: --glow-k); models sharing a
  // key (fm and ot-cfm) share the option
  std::map<std::string, std::vector<std::string>> users;
  std::map<std::string, const flows::ModelOption*> first;
  for (const flows::ModelEntry& e : flows::model_registry())
    for (const flows::ModelOption& opt : e.options) {
      users[opt.key].push_back(e.name);
      first.emplace(opt.key, &opt);
    }
  std::map<std::string, double> model_opts;
  std::map<std::string, CLI::Option*> model_flags;
  for (const auto& [key, opt] : first) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    model_opts[key] = opt->value;
    model_flags[key] = app.add_option(flag, model_opts[key], fmt::format("{}: {}", fmt::join(users[key], ", "), opt->help))
                           ->type_name(opt->integer ? "INT" : "FLOAT")
                           ->check(CLI::Range(opt->lo, opt->hi))
                           ->capture_default_str();
  }
  app.add_option("--sample-solver", o.sample_solver, "fm, ot-cfm: ODE solver for samples (euler, midpoint, rk4, dopri5)")
      ->check(CLI::IsMember({"euler", "midpoint", "rk4", "dopri5"}))
      ->capture_default_str();
  app.add_option("--sample-steps", o.sample_steps, "fm, ot-cfm: steps of a fixed-step sample solver")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ode-tol", o.ode_tol, "fm, ot-cfm: dopri5's atol and rtol for samples")
      ->check(CLI::Range(1e-12, 1.0))
      ->capture_default_str();
  app.add_option("--bpd-tol", o.bpd_tol,
                 "fm, ot-cfm: the likelihood solve's dopri5 atol and rtol, the log-density's error per dimension "
                 "(1e-4: within 0.0003 bpd of 1e-5 at half the cost, docs/results/cnf-cost.md); the test bpd's "
                 "standard error is printed beside it")
      ->check(CLI::Range(1e-12, 1.0))
      ->capture_default_str();
  app.add_option("--epochs", o.epochs, "training epochs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", o.batch, "batch size (under mpirun: the global batch, split over the ranks)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", o.lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr-decay", o.lr_decay, "learning-rate factor per epoch (StepLR)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--clip", o.clip, "clip gradients to this global norm (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--beta2", o.beta2, "Adam's second-moment decay")->check(CLI::Range(0.0, 0.999999))->capture_default_str();
  app.add_option("--warmup", o.warmup, "steps of linear learning-rate warm-up (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--ema", o.ema,
                 "keep an exponential moving average of the weights with this decay (e.g. 0.999) and validate, "
                 "sample and test with it (0: off)")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed for initialization, shuffling and noise")->capture_default_str();
  app.add_option("--data", o.data, "MNIST directory (default: $FLOWGRAD_MNIST, $MNIST_DIR, data/mnist)");
  app.add_option("--out", o.out, "output directory (default: runs/<model>)");
  app.add_option("--resume", o.resume, "continue from a checkpoint (default --out's last.safetensors)")
      ->expected(0, 1)
      ->default_str("");
  app.add_option("--eval-only", o.eval_only, "only evaluate this checkpoint (test bpd, timings) and exit");
  add_device_option(app, o.device);
  app.add_option("--threads", o.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-steps", o.max_steps, "stop after this many optimizer steps (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--time-limit", time_limit, "stop training after this long, e.g. 90s, 5m, 2h");
  app.add_option("--import-samples", o.model.import_samples, "importance samples for the test bpd")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--val-every", o.val_every, "validate every N steps (0: once per epoch)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--save-every", o.save_every, "also write last.safetensors every N steps (0: at validations only)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--val-batches", o.val_batches, "validation batches per validation (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-batches", o.test_batches, "test batches for the final evaluation (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("!--no-test", o.test, "skip the final test-set evaluation");
  app.add_option("--log-every", o.log_every, "steps between metrics lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--samples", o.sample_count, "images per sample grid")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--train-size", o.train_size, "training images; the rest of the 60,000 validate")
      ->check(CLI::Range(1, 59999))
      ->capture_default_str();
  add_dist_options(app, o.dist);
  if (!parse_cli(app, argc, argv, "train_mnist", exit_code)) return false;
  o.model.name = model;
  o.model.arch = flows::parse_arch(arch);
  if (app.count("--conditional")) {
    o.model.conditioning = flows::parse_conditioning(conditional.empty() ? "both" : conditional);
    FG_CHECK(o.model.conditioning == flows::Conditioning::None ||
                 flows::model_entry(model).family != flows::Family::Residual,
             "--conditional is built for the coupling flows and flow matching, not --model {}", model);
  }
  FG_CHECK(!o.init_class_priors || (flows::conditions_prior(o.model.conditioning) && !o.model.flow_matching()),
           "--init-class-priors needs a coupling flow with --conditional prior or both");
  for (const auto& [key, flag] : model_flags) {
    if (flag->count() == 0) continue;
    const auto& who = users[key];
    FG_CHECK(std::find(who.begin(), who.end(), model) != who.end(), "{} applies to {}, not to --model {}",
             flag->get_name(), fmt::join(who, ", "), model);
    FG_CHECK(!first[key]->integer || model_opts[key] == std::floor(model_opts[key]), "{} must be a whole number, got {}",
             flag->get_name(), model_opts[key]);
    o.model.options[key] = model_opts[key];
  }
  if (!time_limit.empty()) o.time_limit_s = parse_duration(time_limit);
  if (o.out.empty()) o.out = "runs/" + o.model.name;
  if (app.count("--resume") && o.resume.empty()) o.resume = o.out + "/last.safetensors";
  return true;
}

}  // namespace fg::app
