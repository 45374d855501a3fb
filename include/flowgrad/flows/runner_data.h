// The 2-D datasets of torchcfm's runner (Tong et al. 2024, Table 2: atong01/conditional-flow-matching,
// branch v0, src/datamodules/distribution_datamodule.py), which differ from the torchcfm package's
// helpers (toy_data.h's TorchCFM convention, C2OT's) in shape, noise and scale:
//   moons       sklearn make_moons(n, noise=0.05): n/2 points at evenly spaced angles linspace(0, pi)
//               on the upper arc (cos, sin), n - n/2 on the lower (1 - cos, 0.5 - sin), shuffled,
//               then i.i.d. N(0, 0.05^2) per coordinate; then x * 2 and x[:, 0] -= 1.
//   scurve      sklearn make_s_curve(n, noise=0.05), columns 0 and 2: t = 3 pi (u - 1/2),
//               (sin t, sign(t) (cos t - 1)) + N(0, 0.05^2) per coordinate; then * 1.5.
//   8gaussians  torchdyn generate_gaussians(n / 8, 8 clusters, radius 5, std 1, noise 1e-4): cluster
//               k = 1..8 centred at 5 (cos 2 pi k / 8, sin 2 pi k / 8), n / 8 points each in cluster
//               order, N(0, 1) around it plus one offset N(0, 1e-4^2) per cluster.
// The runner draws one dataset of 12,000 points and splits it [10000, 1000, 1000] (train, val,
// test) by a fixed random permutation; its source is N(0, I). Draws come from our generator, so
// the points differ from NumPy's, not their distribution.
#pragma once
#include <string>
#include <vector>

#include "flowgrad/tensor/ops.h"

namespace fg::flows {

enum class RunnerData { Moons, SCurve, Gaussians };
RunnerData parse_runner_data(const std::string& s);  // moons, scurve, 8gaussians; throws listing them
const char* runner_data_name(RunnerData d);
std::vector<std::string> runner_data_names();

// The runner's dataset of n points [n, 2] (F64, CPU), in its generator's order, drawn with g.
Tensor runner_dataset(RunnerData d, int64_t n, Generator* g);

}  // namespace fg::flows
