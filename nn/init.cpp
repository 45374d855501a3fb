#include "flowgrad/nn/init.h"

#include <cmath>

namespace fg::nn {

int64_t fan_in(const Shape& s) {
  FG_CHECK(s.size() >= 2, "fan_in: weight needs rank >= 2, got {}", shape_str(s));
  int64_t f = s[1];
  for (size_t i = 2; i < s.size(); ++i) f *= s[i];
  return f;
}

void uniform_(ag::Var& v, double lo, double hi, Generator* g) {
  v.mutable_value() = uniform(v.shape(), lo, hi, v.dtype(), v.device(), g);
}

void normal_(ag::Var& v, double mean, double std, Generator* g) {
  v.mutable_value() = normal(v.shape(), mean, std, v.dtype(), v.device(), g);
}

void constant_(ag::Var& v, double value) { v.mutable_value() = full(v.shape(), value, v.dtype(), v.device()); }
void zeros_(ag::Var& v) { constant_(v, 0.0); }

void kaiming_uniform_(ag::Var& v, double a, Generator* g) {
  double bound = std::sqrt(6.0 / ((1.0 + a * a) * static_cast<double>(fan_in(v.shape()))));
  uniform_(v, -bound, bound, g);
}

}  // namespace fg::nn
