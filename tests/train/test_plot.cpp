// The training-curve plot's y range (train/plot.cpp): focused on where the run spends its time.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/train/plot.h"

using namespace fg::train;

TEST_CASE("focus_range: the top comes from the steps after the first tenth, the bottom from all") {
  // a bpd curve: 30 at step 0, falling to about 1.2-1.5 (noise) by step 100 of 1000
  Series train{"train bpd", {}, {}};
  for (int k = 0; k <= 1000; ++k) {
    train.x.push_back(k);
    train.y.push_back(k < 100 ? 30.0 - 0.28 * k : 1.2 + 0.3 * std::abs(std::sin(k * 0.37)));
  }
  Series val{"validation bpd", {200, 400, 600, 800, 1000}, {1.45, 1.35, 1.3, 1.28, 1.26}};
  const YRange r = focus_range({train, val});
  CHECK(r.clipped);
  CHECK(r.lo < 1.2);   // the minimum (1.2 and a little), less 5% of the range
  CHECK(r.lo > 1.17);
  CHECK(r.hi < 1.6);                                           // not the 30 of the first steps
  CHECK(r.hi > 1.49);
  // too few points: gnuplot's own range
  CHECK(std::isnan(focus_range({val}).lo));
}
