// toy2d --protocol: the training task and the run (protocol.h describes the two protocols).
#include <cstdio>
#include <filesystem>

#include "apps/common/cli.h"
#include "apps/common/heatmap.h"
#include "apps/toy2d/protocol.h"
#include "flowgrad/flows/toy_data.h"
#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/train/train_loop.h"

namespace fg::app::toy2d {

using namespace fg::train;

namespace {

class ProtocolTask : public Task {
 public:
  explicit ProtocolTask(const ProtocolRun& r) : r_(r), matcher_(flows::parse_matcher(r.method)) {
    manual_seed(r.seed);  // initialization
    if (r.protocol == "c2ot") {
      field_ = std::make_shared<flows::ResMLPVelocity>(2, 128, 3);
      c2ot_ = std::make_unique<C2otBatches>(matcher_, r.seed);
    } else {
      field_ = std::make_shared<flows::MLPVelocity>(2, 64);
      runner_ = std::make_unique<RunnerBatches>(matcher_, flows::parse_runner_data(r.dataset), r.seed, 0.1);
    }
    field_->to(r.dev);
  }
  nn::Module& model() override { return *field_; }
  flows::VelocityField& field() { return *field_; }
  RunnerBatches* runner() { return runner_.get(); }
  std::string config_json() const override {
    return nlohmann::json{{"protocol", r_.protocol}, {"method", r_.method}, {"dataset", r_.dataset}, {"seed", r_.seed}}
        .dump();
  }
  int64_t batches_per_epoch() const override { return runner_ ? RunnerBatches::batches_per_epoch() : 0; }
  ag::Var loss(int64_t, int64_t, int64_t step) override {
    flows::PathSample s = c2ot_ ? (*c2ot_)(step) : (*runner_)(step);
    return flows::matching_loss(*field_, {s.t.to(r_.dev), s.xt.to(r_.dev), s.ut.to(r_.dev)});
  }
  // torchcfm's runner: the flow-matching loss on the validation set (every 10 epochs) picks the
  // checkpoint it tests; C2OT evaluates the last weights
  Evaluation validate(int64_t, int64_t) override {
    if (!runner_) return {};
    Generator g(mix(r_.seed, 0x5a11dull));  // the same draws at every validation
    double total = 0;
    int64_t n = 0;
    for (const flows::PathSample& s : runner_->validation_samples(&g)) {
      const double l = flows::matching_loss(*field_, {s.t.to(r_.dev), s.xt.to(r_.dev), s.ut.to(r_.dev)}).item();
      total += l * static_cast<double>(s.t.size(0));
      n += s.t.size(0);
    }
    Evaluation e;
    e.score = total / static_cast<double>(n);
    e.metrics = {{"val_fm_loss", e.score}};
    e.summary = fmt::format("val_fm_loss {:.5f}", e.score);
    return e;
  }

 private:
  const ProtocolRun& r_;
  flows::Matcher matcher_;
  std::shared_ptr<flows::VelocityField> field_;
  std::unique_ptr<C2otBatches> c2ot_;
  std::unique_ptr<RunnerBatches> runner_;
};

}  // namespace

int run_protocol(const ProtocolRun& r) {
  const bool c2ot = r.protocol == "c2ot";
  const std::string tag = fmt::format("{}_{}_{}_seed{}", r.protocol, r.method, r.dataset, r.seed);
  const std::string prefix = r.out + "/" + tag;
  std::filesystem::create_directories(r.out);
  ProtocolTask task(r);
  std::unique_ptr<nn::Optimizer> opt;
  if (c2ot) opt = std::make_unique<nn::Adam>(task.model().parameters(), 3e-4);
  else opt = std::make_unique<nn::AdamW>(task.model().parameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-5);
  std::fprintf(stderr, "toy2d --protocol %s: %s, %s, %ld parameters\n", r.protocol.c_str(), r.method.c_str(),
               c2ot ? "8gaussians -> moons" : ("N(0, I) -> " + r.dataset).c_str(),
               static_cast<long>(task.model().num_parameters()));
  LoopOptions lo;
  lo.out = r.out;
  lo.file_prefix = tag + "_";
  lo.max_steps = r.steps;
  lo.log_every = 100;
  lo.clip = 0;  // neither clips
  lo.seed = r.seed;
  lo.ema_decay = r.ema;
  lo.resume = r.resume;
  lo.loss_name = "train_fm_loss";
  lo.progress_label = "train " + tag;
  if (!c2ot) {
    lo.epochs = 1000;
    lo.val_every = 10 * RunnerBatches::batches_per_epoch();
  }
  TrainLoop loop(task, *opt, nullptr, lo);
  LoopResult lr = loop.run();

  // the weights that are tested: the last (C2OT), the best validation loss's (torchcfm's runner)
  int64_t tested_step = lr.steps;
  if (!c2ot && !lr.best_checkpoint.empty()) {
    nn::Checkpoint ck = nn::load_checkpoint(lr.best_checkpoint);
    nn::restore(ck, task.model(), nullptr, false, loop.average());
    tested_step = ck.get_int("step");
  }
  nn::EmaScope averaged(loop.average());
  task.model().eval();
  Tensor shown;
  nlohmann::json j = c2ot ? evaluate_c2ot(task.field(), r.seed, r.dev, &shown, r.eval_points > 0 ? r.eval_points : 10000)
                          : evaluate_runner(task.field(), *task.runner(), r.seed, r.dev, &shown);
  j.update(nlohmann::json{{"protocol", r.protocol}, {"method", r.method}, {"dataset", r.dataset},
                          {"source", c2ot ? "8gaussians" : "gaussian"}, {"seed", r.seed}, {"steps", lr.steps},
                          {"tested_step", tested_step}, {"parameters", task.model().num_parameters()},
                          {"train_seconds", lr.train_seconds}, {"device", r.dev.str()}, {"ema", r.ema}});
  std::vector<std::string> files{prefix + "_result.json", prefix + "_last.safetensors", prefix + "_metrics.jsonl"};
  if (r.plots) {
    const double extent = c2ot ? 7.0 : 4.0;
    if (scatter_png(prefix + "_samples.png", shown, tag + ": samples (adaptive)", extent))
      files.push_back(prefix + "_samples.png");
  }
  j["files"] = files;
  nn::atomic_write_file(prefix + "_result.json", j.dump(2) + "\n");
  nlohmann::json line = j;
  line.erase("files");
  std::printf("%s\n", line.dump().c_str());
  for (const auto& f : files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  return lr.exit_code;
}

}  // namespace fg::app::toy2d
