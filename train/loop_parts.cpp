#include "train/loop_parts.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>

#include "flowgrad/nn/atomic_file.h"
#include "nn/fault.h"

namespace fg::train::detail {

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

// ---- MetricsLog

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) {
  if (resume_step >= 0) {
    std::ifstream in(path);
    std::string kept, line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > resume_step)
        continue;
      kept += line + "\n";
    }
    if (in.is_open()) nn::atomic_write_file(path, kept);
  }
  f_ = std::fopen(path.c_str(), resume_step >= 0 ? "a" : "w");
  FG_CHECK(f_, "cannot write {}", path);
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& j) {
  if (!f_) return;
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

// ---- StopSignals

StopSignals::StopSignals() {
  g_signal = 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int StopSignals::caught() const { return g_signal.load(); }

// ---- Cadence

Cadence::Cadence(const LoopOptions& o, int64_t per_epoch)
    : o_(o), per_epoch_(per_epoch), epochs_(per_epoch > 0 && o.epochs > 0) {
  total_ = epochs_ ? o.epochs * per_epoch : o.max_steps;
  if (o.max_steps > 0) total_ = std::min(total_, o.max_steps);
}

bool Cadence::time_up(double elapsed) const { return o_.time_limit_s > 0 && elapsed >= o_.time_limit_s; }

bool Cadence::finished(const Position& p) const {
  return (o_.max_steps > 0 && p.step >= o_.max_steps) || (epochs_ && p.epoch >= o_.epochs) || (!epochs_ && total_ <= 0);
}

// ---- StepStats

void StepStats::add(const nn::StepResult& r, int64_t epoch, double lr) {
  lrs_.push_back(lr);
  losses_.push_back(r.loss);
  bads_.push_back(r.bad);
  epochs_.push_back(epoch);
}

int64_t StepStats::read(int64_t from, const std::string& loss_name, MetricsLog& log) {
  if (losses_.empty()) return bad_run_;
  std::vector<Tensor> parts;
  for (size_t i = 0; i < losses_.size(); ++i) {
    parts.push_back(losses_[i].to(DType::F64).reshape({1}));
    parts.push_back(bads_[i].reshape({1}));
  }
  const std::vector<double> v = concat(parts, 0).to_vector<double>();
  int64_t bad = 0, first_bad = -1, good = 0;
  double sum = 0;
  for (size_t i = 0; i < losses_.size(); ++i) {
    const int64_t step = from + static_cast<int64_t>(i) + 1;
    nlohmann::json j{{"step", step}, {"epoch", epochs_[i]}, {loss_name, num(v[2 * i])}, {"lr", lrs_[i]}};
    if (v[2 * i + 1] != 0) {
      j["nonfinite"] = true;
      if (bad++ == 0) first_bad = step;
      ++bad_run_;
    } else {
      sum += v[2 * i];
      ++good;
      bad_run_ = 0;
    }
    log.write(j);
  }
  if (good > 0) running_ = sum / static_cast<double>(good);
  losses_.clear();
  bads_.clear();
  epochs_.clear();
  lrs_.clear();
  if (bad > 0)
    std::fprintf(stderr, "\nwarning: %ld non-finite step(s) (loss or gradient), the first at step %ld; skipped, the "
                 "weights are unchanged by them\n", static_cast<long>(bad), static_cast<long>(first_bad));
  return bad_run_;
}

// ---- fault points

ag::Var fault_loss(ag::Var loss, int64_t step) { return nn::fault_armed("train.nan_loss", step) ? loss * NAN : loss; }

void fault_grads(const std::vector<ag::Var>& params, int64_t step) {
  if (!nn::fault_armed("train.nan_grad", step)) return;
  for (ag::Var p : params)
    if (p.grad().defined()) {
      Tensor g = p.grad().clone();
      Tensor first = slice(flatten(g, 0), 0, 0, 1);
      copy_into(full({1}, NAN, g.dtype(), g.device()), first);
      p.set_grad(g);
      return;
    }
}

void fault_hang(int64_t step) {
  if (!nn::fault_armed("dist.hang", step)) return;
  std::fprintf(stderr, "fault dist.hang: this process stops taking part at step %ld\n", static_cast<long>(step));
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

void fault_desync(const std::vector<ag::Var>& params, int64_t step) {
  if (!nn::fault_armed("dist.desync", step) || params.empty()) return;
  ag::NoGradGuard ng;
  ag::Var p = params[0];
  Tensor v = p.value().clone();
  Tensor first = slice(flatten(v, 0), 0, 0, 1);
  copy_into(first + 1e-3, first);
  p.mutable_value() = v;
}

}  // namespace fg::train::detail
