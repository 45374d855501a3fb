// toy2d --protocol: two published 2-D flow-matching protocols, reproduced setting by setting so
// that our numbers read in their units (read from the code; docs/results/toy2d/protocol.md).
//
//   c2ot      C2OT (Cheng & Schwing 2025, Fig. 1; hkchengrex/C2OT moons.py): C2OT's 8 Gaussians
//             (radius 5, covariance sqrt(0.1) I) -> torchdyn moons * 3 - 1, sigma 0, ResMLPVelocity
//             (128 wide, 3 GELU blocks: 396,034 parameters), Adam 3e-4, batch 256, 20,000 steps.
//             Every 4 steps a fresh draw of 1024 + 1024 points: OT-CFM pairs them by the exact
//             assignment (x0's order kept, x1 permuted), I-CFM leaves them in order (the moons in
//             their generator's order, a quirk kept); 4 contiguous batches of 256 follow in turn.
//             Evaluation on 10,000 fresh source and 10,000 fresh target points: one Euler step, and
//             dopri5 at atol = rtol = 1e-4 with torchdyn's step rules in chunks of 256 (NFE: the
//             mean per chunk); W2^2 = the exact assignment cost (what C2OT calls "2-Wasserstein").
//   torchcfm  torchcfm's runner (Tong et al. 2024, Table 2; branch v0, scripts/two-dim-cfm.sh):
//             N(0, I) -> its moons, scurve or 8gaussians (flowgrad/flows/runner_data.h), 12,000
//             points split 10,000 / 1,000 / 1,000, the 3 x 64 SELU MLP (8,706 parameters), AdamW
//             1e-3 with weight decay 1e-5, sigma 0.1, batch 512 over shuffled epochs (19 x 512 +
//             272), 1,000 epochs = 20,000 steps; OT-CFM pairs each batch exactly and draws the
//             batch's pairs from that plan with replacement. The validation loss every 10 epochs
//             picks the checkpoint that is tested: 1,000 N(0, I) points through 100 Euler steps
//             (the runner on main) and 100 RK4 steps (v0), W2 = sqrt of the exact cost, against
//             the 1,000 test points.
// Each run reports W2 and W2^2 side by side, with n and the floor (W2 between two target sets of
// the same size: the estimator's value for a perfect model).
#pragma once
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/continuous/matching.h"
#include "flowgrad/flows/runner_data.h"

namespace fg::app::toy2d {

// splitmix64 of (a, b): independent seeds for (seed, step, stream)
uint64_t mix(uint64_t a, uint64_t b);

// C2OT's training pairs (see above): the path sample of each step, the next group of 1024 being
// drawn and paired on another thread meanwhile.
class C2otBatches {
 public:
  static constexpr int64_t kGroup = 1024, kBatch = 256;
  C2otBatches(flows::Matcher m, uint64_t seed) : m_(m), seed_(seed) {}
  ~C2otBatches();
  flows::PathSample operator()(int64_t step);

  struct Group {
    Tensor x0, x1;  // x1 in x0's partners' order for OT-CFM
  };
  Group group(int64_t g);  // the draw of group g (and its pairing), on this thread

 private:
  flows::Matcher m_;
  uint64_t seed_;
  flows::OtPairing pairing_;  // warm duals, used by one thread at a time
  int64_t current_ = -1, next_id_ = -1;
  Group cur_;
  std::future<Group> next_;
};

// torchcfm runner's data and training pairs (see above).
class RunnerBatches {
 public:
  static constexpr int64_t kTrain = 10000, kVal = 1000, kTest = 1000, kBatch = 512;
  RunnerBatches(flows::Matcher m, flows::RunnerData d, uint64_t seed, double sigma);
  ~RunnerBatches();
  static int64_t batches_per_epoch() { return (kTrain + kBatch - 1) / kBatch; }
  flows::PathSample operator()(int64_t step);
  flows::PathSample sample(int64_t step);  // the same, on this thread
  // The validation loss's path samples: the 1,000 validation points in batches of 512, drawn from g.
  std::vector<flows::PathSample> validation_samples(Generator* g) const;
  const Tensor& val() const { return val_; }
  const Tensor& test() const { return test_; }

 private:
  flows::PathSample pair_and_sample(const Tensor& x1, Generator* g, flows::OtPairing* pairing) const;
  flows::Matcher m_;
  uint64_t seed_;
  double sigma_;
  Tensor train_, val_, test_;
  flows::OtPairing pairing_;
  int64_t next_id_ = -1;
  std::future<flows::PathSample> next_;
};

// One protocol run: trains, evaluates, prints the JSON line and writes <out>/<tag>_result.json
// (tag: <protocol>_<method>_<dataset>_seed<seed>). Returns the exit code.
struct ProtocolRun {
  std::string protocol, method, dataset, out, resume;
  int64_t steps = 20000;
  uint64_t seed = 0;
  double ema = 0;
  int64_t eval_points = 0;  // c2ot: 0 for its 10,000 (the JSON's n_eval says what was used)
  bool plots = true;
  Device dev = Device::cpu();
};
int run_protocol(const ProtocolRun& r);

// Evaluation of a trained field (no grad), as each protocol measures it; JSON fields: w2_euler1,
// w2sq_euler1, w2_adaptive, w2sq_adaptive, nfe_adaptive, n_eval, floor_w2, floor_w2sq (and the
// runner's w2[sq]_euler100, w2[sq]_rk4_100). `shown` gets the adaptive solve's samples.
nlohmann::json evaluate_c2ot(flows::VelocityField& v, uint64_t seed, Device dev, Tensor* shown, int64_t n = 10000);
nlohmann::json evaluate_runner(flows::VelocityField& v, const RunnerBatches& data, uint64_t seed, Device dev,
                               Tensor* shown);

}  // namespace fg::app::toy2d
