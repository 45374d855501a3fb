// Flow-matching objectives (Lipman et al. 2023; Tong et al. 2024), in torchcfm's conventions.
// A draw gives times t ~ U[0, 1) per example, points x_t on the conditional path and the target
// velocity u_t; the loss is mean((v(x_t, t) - u_t)^2) over all elements (torchcfm's).
//   FM (Lipman's, torchcfm TargetConditionalFlowMatcher): x0 ~ N(0, I) noise,
//       x_t = t x1 + (1 - (1 - sigma) t) x0,  u_t = (x1 - (1 - sigma) x_t) / (1 - (1 - sigma) t)
//   I-CFM (ConditionalFlowMatcher): any source x0, independent of x1,
//       x_t = t x1 + (1 - t) x0 + sigma eps,  u_t = x1 - x0
//   OT-CFM (ExactOptimalTransportConditionalFlowMatcher): I-CFM after pairing the batch's x0 and
//       x1 by the exact minimum-cost assignment on squared distances.
// Where this differs from torchcfm: OT-CFM uses the assignment's permutation itself; torchcfm
// samples batch-size index pairs from the plan (with replacement), which for a permutation plan
// repeats some pairs and drops others. The plan is the same exact one (POT's emd there).
#pragma once
#include <string>

#include "flowgrad/flows/continuous/velocity.h"

namespace fg::flows {

class OtPairing;  // flowgrad/flows/continuous/assignment.h

enum class Matcher { FM, ICFM, OTCFM };
Matcher parse_matcher(const std::string& s);  // fm, i-cfm, ot-cfm; throws listing them
const char* matcher_name(Matcher m);

struct PathSample {
  Tensor t, xt, ut;  // t [N]; xt, ut shaped like x1
};

// x0: the source batch (N(0, I) noise for FM), x1: the data batch, t [N] in [0, 1), eps: N(0, I)
// noise shaped like x1 (unused by FM). OT-CFM reorders x1 to x0's optimal partners first, by
// `pairing` when given (warm-started from the previous batch it solved: the same assignment, found
// faster, for batches paired one after another) or by a cold ot_pairing.
PathSample sample_path(Matcher m, const Tensor& x0, const Tensor& x1, const Tensor& t, const Tensor& eps,
                       double sigma, OtPairing* pairing = nullptr);
// The same with t, eps (and FM's x0 when x0 is undefined) drawn from g.
PathSample sample_path(Matcher m, const Tensor& x0, const Tensor& x1, double sigma, Generator* g,
                       OtPairing* pairing = nullptr);

Var matching_loss(VelocityField& v, const PathSample& s);

}  // namespace fg::flows
