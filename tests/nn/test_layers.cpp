// Forward values of the composite nn layers (nn/layers.cpp) against direct f64 evaluations of
// their definitions: GroupNorm (torch.nn.GroupNorm), nearest 2x upsampling and 2x2 average pooling,
// plus a gradient check through each (they are built from differentiable ops, so their backward is
// those ops').
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/autograd/gradcheck.h"
#include "flowgrad/nn/layers.h"

using namespace fg;
using namespace fg::nn;

namespace {
// value of a contiguous f64 [N, C, H, W] tensor
double at(const std::vector<double>& v, const Shape& s, int64_t n, int64_t c, int64_t h, int64_t w) {
  return v[((n * s[1] + c) * s[2] + h) * s[3] + w];
}
}  // namespace

TEST_CASE("GroupNorm normalizes each group of channels over its positions, then the per-channel affine") {
  manual_seed(3);
  const Shape s{2, 6, 3, 4};
  const int64_t groups = 3, per = s[1] / groups;
  GroupNorm gn(groups, s[1], 1e-5);
  gn.to(DType::F64);
  {
    ag::NoGradGuard ng;
    gn.weight.mutable_value() = randn({s[1]}, DType::F64);
    gn.bias.mutable_value() = randn({s[1]}, DType::F64);
  }
  Tensor x = randn(s, DType::F64) * 3.0 + 1.5;
  const std::vector<double> xv = x.to_vector<double>(), y = gn(Var(x)).value().to_vector<double>();
  const std::vector<double> g = gn.weight.value().to_vector<double>(), b = gn.bias.value().to_vector<double>();
  double worst = 0;
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t k = 0; k < groups; ++k) {
      double mu = 0, var = 0, count = static_cast<double>(per * s[2] * s[3]);
      for (int64_t c = k * per; c < (k + 1) * per; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w) mu += at(xv, s, n, c, h, w);
      mu /= count;
      for (int64_t c = k * per; c < (k + 1) * per; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w) var += std::pow(at(xv, s, n, c, h, w) - mu, 2);
      var /= count;  // biased, as torch
      for (int64_t c = k * per; c < (k + 1) * per; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w) {
            const double want = (at(xv, s, n, c, h, w) - mu) / std::sqrt(var + 1e-5) * g[c] + b[c];
            worst = std::max(worst, std::abs(at(y, s, n, c, h, w) - want));
          }
    }
  CHECK(worst < 1e-12);
  CHECK_THROWS_WITH_AS(GroupNorm(4, 6), doctest::Contains("6 channels do not split into 4 groups"), Error);
  CHECK_THROWS_WITH_AS(gn(Var(randn({2, 5, 3, 4}, DType::F64))), doctest::Contains("must be [N, 6, ...]"), Error);
  auto r = ag::gradcheck([&](const std::vector<Var>& v) { return gn(v[0]); }, {randn({2, 6, 2, 3}, DType::F64)});
  CHECK_MESSAGE(r.ok, r.message);
}

TEST_CASE("nearest 2x upsampling repeats each pixel in a 2x2 block; 2x2 average pooling is their mean") {
  const Shape s{2, 3, 3, 5};
  Tensor x = randn(s, DType::F64);
  const std::vector<double> xv = x.to_vector<double>();
  Tensor up = upsample_nearest2x(Var(x)).value();
  REQUIRE(up.shape() == Shape{2, 3, 6, 10});
  const std::vector<double> uv = up.to_vector<double>();
  const Shape us = up.shape();
  bool exact = true;
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < us[2]; ++h)
        for (int64_t w = 0; w < us[3]; ++w) exact = exact && at(uv, us, n, c, h, w) == at(xv, s, n, c, h / 2, w / 2);
  CHECK(exact);
  // pooling the upsampled image gives the image back; pooling a random one averages each block
  CHECK(max_abs_diff(avg_pool2x(Var(up)).value(), x) < 1e-15);
  Tensor z = randn({1, 2, 4, 6}, DType::F64);
  const std::vector<double> zv = z.to_vector<double>(), pv = avg_pool2x(Var(z)).value().to_vector<double>();
  const Shape zs = z.shape(), ps{1, 2, 2, 3};
  double worst = 0;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t w = 0; w < 3; ++w) {
        const double want = (at(zv, zs, 0, c, 2 * h, 2 * w) + at(zv, zs, 0, c, 2 * h + 1, 2 * w) +
                             at(zv, zs, 0, c, 2 * h, 2 * w + 1) + at(zv, zs, 0, c, 2 * h + 1, 2 * w + 1)) / 4;
        worst = std::max(worst, std::abs(at(pv, ps, 0, c, h, w) - want));
      }
  CHECK(worst < 1e-15);
  CHECK_THROWS_WITH_AS(avg_pool2x(Var(randn({1, 1, 3, 4}))), doctest::Contains("even H and W"), Error);
  for (auto f : {&upsample_nearest2x, &avg_pool2x}) {
    auto r = ag::gradcheck([&](const std::vector<Var>& v) { return f(v[0]); }, {randn({2, 2, 4, 2}, DType::F64)});
    CHECK_MESSAGE(r.ok, r.message);
  }
}
