// Vectorizable f32 exp/expm1 for the CPU kernels (glibc's expf is not vectorized without
// -ffast-math). exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor for e^r
// (truncation < 6e-9 relative), scaled by 2^n through the exponent bits; within a few ulp of
// std::exp (tests/tensor/test_fast_math.cpp). Overflow gives +inf, underflow 0, NaN stays NaN.
// f64 uses std:: (the reference precision).
#pragma once
#include <cmath>
#include <cstdint>
#include <bit>
#include <limits>

namespace fg::cpu {

inline float fast_expf(float x) {
  float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 +
                                                                                              r * (1.0f / 5040)))))));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale = std::bit_cast<float>(bits);
  float y = p * scale;
  y = x > 88.7228f ? std::numeric_limits<float>::infinity() : y;
  y = x < -103.97f ? 0.0f : y;
  return x != x ? x : y;
}

// e^x - 1 without cancellation near 0: with x = n ln2 + r, e^x - 1 = 2^n (e^r - 1) + (2^n - 1),
// where e^r - 1 is the polynomial without its constant term (exact relative precision for n = 0).
inline float fast_expm1f(float x) {
  float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
  float q = r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 +
                                                                                         r * (1.0f / 5040)))))));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale = std::bit_cast<float>(bits);
  float y = scale * q + (scale - 1.0f);
  y = x > 88.7228f ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

// Overloads the elementwise functors pick up by unqualified lookup.
inline float exp(float x) { return fast_expf(x); }
inline double exp(double x) { return std::exp(x); }
inline float expm1(float x) { return fast_expm1f(x); }
inline double expm1(double x) { return std::expm1(x); }

}  // namespace fg::cpu
