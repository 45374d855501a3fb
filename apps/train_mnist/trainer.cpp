#include "apps/train_mnist/trainer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "flowgrad/flows/models.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/train/plot.h"
#include "apps/train_mnist/evaluate.h"
#include "flowgrad/dist/communicator.h"
#include "flowgrad/nn/data_loader.h"

namespace fg::app {

namespace {

// import_samples is an evaluation setting: a resume may change it
flows::ModelConfig training_config(flows::ModelConfig c) {
  c.import_samples = 8;
  return c;
}

class MnistTask : public Task {
 public:
  MnistTask(const TrainOptions& o, const nn::MnistData& train, const nn::MnistData& val)
      : o_(o), val_(val),
        loader_(train.images, o.model.conditioning != flows::Conditioning::None ? train.labels : Tensor(), o.batch,
                true, true, o.seed) {
    FG_CHECK(loader_.num_batches() > 0, "--batch {} is larger than the {} training images", o.batch, train.size());
    loader_.set_shard(dist::world().rank(), dist::world().size());  // this rank's rows of each batch
    manual_seed(o.seed);  // initialization
    model_ = flows::build_image_model(o.model);
    model_->to(Device::parse(o.device));
    // --init-class-priors: the class priors start at the per-class latent means of the first 512
    // training images (a resume then restores the trained values); else at N(0, I), as Glow's
    if (o.init_class_priors && flows::conditions_prior(o.model.conditioning)) {
      const int64_t m = std::min<int64_t>(512, train.size());
      model_->init_class_priors(slice(train.images, 0, 0, m), slice(train.labels, 0, 0, m).contiguous());
    }
  }
  nn::Module& model() override { return *model_; }
  flows::ImageModel& image_model() { return *model_; }
  std::string config_json() const override { return flows::config_to_json(training_config(o_.model)); }
  bool config_matches(const std::string& stored) const override {
    return training_config(flows::config_from_json(stored)) == training_config(o_.model);
  }
  int64_t batches_per_epoch() const override { return loader_.num_batches(); }
  int64_t global_batch() const override { return o_.batch; }
  void start_epoch(int64_t epoch, int64_t batch) override { loader_.set_epoch(epoch, batch); }
  ag::Var loss(int64_t, int64_t, int64_t) override {
    nn::Batch b;
    FG_CHECK(loader_.next(b), "train_mnist: the data loader ran out of batches");
    return model_->cond_loss(b.images, b.labels.defined() ? &b.labels : nullptr);
  }
  Evaluation validate(int64_t step, int64_t) override {
    double v = mean_loss(*model_, val_, o_.batch, o_.val_batches, "  validate");
    if (dist::world().rank() == 0) {
      dist::SoloScope solo(dist::world(), "sample grids");
      flows::SampleOptions so = sample_options(o_);
      Tensor s = generate_grid(*model_, o_.sample_count, so);
      int nrow = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(o_.sample_count))));
      nn::write_image_grid(fmt::format("{}/samples_step{:06}.png", o_.out, step), s, nrow, 3);
      nn::write_image_grid(o_.out + "/samples_latest.png", s, nrow, 3);
    }
    std::string key = std::string("val_") + model_->loss_name();
    return {{{key, v}}, v, fmt::format("{} {:.4f}", key, v)};
  }

 private:
  const TrainOptions& o_;
  const nn::MnistData& val_;
  nn::DataLoader loader_;
  std::shared_ptr<flows::ImageModel> model_;
};

}  // namespace

TrainOutcome run_training(const TrainOptions& o, const nn::MnistData& train_set, const nn::MnistData& val_set) {
  MnistTask task(o, train_set, val_set);
  flows::ImageModel& m = task.image_model();
  nn::Adam opt(m.parameters(), o.lr, 0.9, o.beta2);  // built after the model moved: its state lives there too
  nn::StepLR sched(opt, 1, o.lr_decay);
  if (dist::world().rank() == 0)
    std::fprintf(stderr, "%s (%s, %s%s): %ld parameters; %ld training / %ld validation images\n",
               o.model.name.c_str(), m.family(), flows::arch_name(o.model.arch), o.model.additive ? ", additive" : "",
               static_cast<long>(m.num_parameters()), static_cast<long>(train_set.size()),
               static_cast<long>(val_set.size()));
  LoopOptions lo;
  lo.out = o.out;
  lo.epochs = o.epochs;
  lo.max_steps = o.max_steps;
  lo.time_limit_s = o.time_limit_s;
  lo.log_every = o.log_every;
  lo.val_every = o.val_every;
  lo.save_every = o.save_every;
  lo.clip = o.clip;
  lo.ema_decay = o.ema;
  lo.warmup_steps = o.warmup;
  lo.seed = o.seed;
  lo.resume = o.resume;
  lo.loss_name = std::string("train_") + m.loss_name();
  lo.reducer.bucket_bytes = static_cast<int64_t>(o.dist.bucket_mb * (1 << 20));
  LoopResult r = TrainLoop(task, opt, &sched, lo).run();
  if (dist::world().rank() == 0)
    plot_training_curves(o.out + "/metrics.jsonl", o.out + "/curves.png",
                       fmt::format("{} ({}) on MNIST", o.model.name, m.family()));
  return {r.exit_code, r.best_score, r.best_checkpoint};
}

}  // namespace fg::app
