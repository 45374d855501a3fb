// Standard 2-D toy densities for normalizing flows, as defined in FFJORD's lib/toy_data.py
// (Grathwohl et al. 2019), the definitions most 2-D flow papers plot. Seeded samplers, and the
// exact log-density of each (for reference NLLs and "true density" plots).
//
//   moons:        sklearn.datasets.make_moons(noise=0.1), then x * 2 + (-1, -0.2) (FFJORD's
//                 centering/scaling: the two arcs of radius 2 fill about [-3, 3] x [-1.5, 1.5]).
//                 Each point picks a moon with probability 1/2 and an angle theta ~ U[0, pi]
//                 (make_moons spaces the angles evenly and shuffles, the same distribution):
//                 upper (cos theta, sin theta), lower (1 - cos theta, 0.5 - sin theta); then
//                 N(0, 0.1^2) noise per coordinate, then the affine map (noise std 0.2 after it).
//   8gaussians:   an equal mixture of 8 isotropic Gaussians centred on the circle of radius
//                 4/sqrt(2) = 2 sqrt(2) at angles k * 45 degrees, std 0.5/sqrt(2) ~= 0.354 (FFJORD:
//                 centres 4 * unit vectors, std 0.5, all divided by 1.414).
//   checkerboard: uniform on 8 of the 16 squares of side 2 tiling [-4, 4]^2 (area 32), in a
//                 checkerboard pattern: x1 ~ U[-4, 4], and x2 lies in the two squares of x1's column
//                 (FFJORD: x1 = 4u - 2, x2 = u' - 2k + (floor(x1) mod 2), k in {0, 1}, both * 2).
//
// The torchcfm convention (Tong et al.'s torchcfm/utils.py, the one flow-matching papers use):
//   moons:        torchdyn's generate_moons(n, noise=0.2) * 3 - 1: n/2 points at evenly spaced
//                 angles linspace(0, pi) on each arc (upper (cos, sin), lower (1 - cos, 0.5 - sin)),
//                 each shifted by u (1, 1), u ~ U[0, 0.2) (one uniform for both coordinates), then
//                 times 3 minus 1. Its density is that of the band 3 arc(theta) - 1 + 0.6 v (1, 1),
//                 theta ~ U[0, pi], v ~ U[0, 1) (computed in closed form).
//   8gaussians:   eight_normal_sample(n, 2, scale=5, var=0.1): centres 5 x the 8 unit vectors, noise
//                 N(0, sqrt(0.1) I) (torchcfm passes sqrt(var) as the covariance, so the variance
//                 is 0.316 and the std 0.562, not 0.1: we follow the code, which made the published
//                 numbers).
//   checkerboard: not in torchcfm; the FFJORD one above.
#pragma once
#include <string>
#include <vector>

#include "flowgrad/tensor/ops.h"

namespace fg::flows {

enum class Toy2D { Moons, EightGaussians, Checkerboard };
enum class ToyConvention { FFJORD, TorchCFM };
ToyConvention parse_toy_convention(const std::string& s);  // ffjord, torchcfm
const char* toy_convention_name(ToyConvention c);

std::vector<std::string> toy2d_names();  // "moons", "8gaussians", "checkerboard"
Toy2D parse_toy2d(const std::string& name);  // throws fg::Error listing the names
std::string toy2d_name(Toy2D d);

// n samples [n, 2] (CPU) drawn with g (the default generator when null).
Tensor sample_toy2d(Toy2D d, int64_t n, Generator* g = nullptr, DType dtype = DType::F32,
                    ToyConvention c = ToyConvention::FFJORD);

// The exact log-density of the distribution at x [N, 2] -> [N] F64 (CPU). Moons integrate the
// Gaussian noise over the arc angle numerically (trapezoid rule on 2001 angles per moon: error
// far below 1e-6 for the noise std 0.2); checkerboard gives -inf off its support.
Tensor toy2d_log_prob(Toy2D d, const Tensor& x, ToyConvention c = ToyConvention::FFJORD);

// The distribution's differential entropy in nats, the lowest possible expected NLL, where it
// has a closed form: checkerboard log 32 = 3.4657; 8gaussians log 8 + log(2 pi e sigma^2) =
// 2.8379 (the components are 6 std apart, so their overlap changes this by < 1e-3). NaN for
// moons (estimate it as the mean of -toy2d_log_prob over samples).
double toy2d_entropy(Toy2D d, ToyConvention c = ToyConvention::FFJORD);

}  // namespace fg::flows
