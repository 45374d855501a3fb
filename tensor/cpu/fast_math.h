// Vectorizable f32 exp/expm1/tanh/log/log1p/erf for the CPU kernels (glibc's expf is not vectorized without
// -ffast-math). exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor for e^r
// (truncation < 6e-9 relative), scaled by 2^n through the exponent bits; within a few ulp of
// std::exp (tests/tensor/test_fast_math.cpp). Overflow gives +inf, underflow 0, NaN stays NaN.
// f64 uses std:: (the reference precision).
#pragma once
#include <cmath>
#include <cstdint>
#include <bit>
#include <limits>

// always inlined: a call left in a loop stops it from vectorizing (gcc's inliner gave up on
// sigmoid's two exps in the big elementwise TU, which made sigmoid 10x slower)
#define FG_ALWAYS_INLINE inline __attribute__((always_inline))

namespace fg::cpu {

// x = n ln2 + r with |r| <= ln2/2, for x in [-87, 88]: r, and 2^n through the exponent bits
struct ExpReduction {
  float r, scale;
};
FG_ALWAYS_INLINE ExpReduction exp_reduce(float xc) {
  float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return {r, std::bit_cast<float>(bits)};
}

// (e^r - 1) / r for |r| <= ln2/2, from the degree-7 Taylor polynomial of e^r
FG_ALWAYS_INLINE float expm1_over_r(float r) {
  return 1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040))))));
}

// e^x for x in [-87, 88]
FG_ALWAYS_INLINE float exp_reduced(float xc) {
  const ExpReduction e = exp_reduce(xc);
  return (1.0f + e.r * expm1_over_r(e.r)) * e.scale;
}

FG_ALWAYS_INLINE float fast_expf(float x) {
  float y = exp_reduced(x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x));
  y = x > 88.7228f ? std::numeric_limits<float>::infinity() : y;
  y = x < -103.97f ? 0.0f : y;
  return x != x ? x : y;
}

// e^x for x <= 0 or NaN (sigmoid's e^{-|x|}): fast_expf without the overflow side's checks. A NaN
// needs no test of its own: it passes the clamp (the compare is false) and every step after it.
FG_ALWAYS_INLINE float fast_exp_nonposf(float x) {
  const float y = exp_reduced(x < -87.0f ? -87.0f : x);
  return x < -103.97f ? 0.0f : y;
}

// e^x - 1 without cancellation near 0, for x in [-87, 88]: e^x - 1 = 2^n (e^r - 1) + (2^n - 1)
// (exact relative precision for n = 0)
FG_ALWAYS_INLINE float expm1_reduced(float xc) {
  const ExpReduction e = exp_reduce(xc);
  return e.scale * (e.r * expm1_over_r(e.r)) + (e.scale - 1.0f);
}

FG_ALWAYS_INLINE float fast_expm1f(float x) {
  float y = expm1_reduced(x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x));
  y = x > 88.7228f ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

// e^x - 1 for x <= 0 or NaN (ConcatELU's e^{-|v|} - 1): below -87 it is -1 in f32, and a NaN
// passes through the arithmetic, so the clamp is the only test
FG_ALWAYS_INLINE float fast_expm1_nonposf(float x) { return expm1_reduced(x < -87.0f ? -87.0f : x); }

// tanh from expm1 with relative precision near 0: tanh(x) = expm1(2x) / (expm1(2x) + 2); |x| is
// capped at 9, where tanh is 1 - 3e-8 (1.0f), so expm1 never overflows.
FG_ALWAYS_INLINE float fast_tanhf(float x) {
  float xc = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
  float e = fast_expm1f(2.0f * xc);
  float y = e / (e + 2.0f);
  return x != x ? x : y;
}

// log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) for s = (m - 1) / (m + 1),
// |s| <= 0.1716, as the odd series to s^9 (the next term is below 4e-10), plus e ln2 in two
// parts. Subnormals are scaled by 2^23 first. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
FG_ALWAYS_INLINE float fast_logf(float x) {
  const bool tiny = x < 1.17549435e-38f;
  const float xs = tiny ? x * 8388608.0f : x;
  const int32_t bits = std::bit_cast<int32_t>(xs);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 127) - (tiny ? 23.0f : 0.0f);
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const bool high = m > 1.41421356f;
  m = high ? 0.5f * m : m;
  e = high ? e + 1.0f : e;
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float series = 2.0f * s + 2.0f * s * s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
  float y = e * 0.693145751953125f + (series + e * 1.42860682030941723e-6f);
  y = x == 0.0f ? -std::numeric_limits<float>::infinity() : y;
  y = x == std::numeric_limits<float>::infinity() ? x : y;
  return x < 0.0f || x != x ? std::numeric_limits<float>::quiet_NaN() : y;
}

// log(1 + u) with relative precision for small u: log(w) u / (w - 1) for w = 1 + u rounded,
// which cancels the rounding of w (Goldberg's trick); u itself where w rounds to 1.
FG_ALWAYS_INLINE float fast_log1pf(float u) {
  const float w = 1.0f + u;
  const float d = w - 1.0f;
  const float y = fast_logf(w) * (u / (d == 0.0f ? 1.0f : d));
  return d == 0.0f ? u : (w == std::numeric_limits<float>::infinity() ? w : y);
}

// erf for f32: erf(x) = x P(x^2) / Q(x^2) on |x| <= 4 (degrees 6 and 5 in x^2, fitted by us by
// reweighted least squares on the relative error of erf(x)/x: 2.5e-9 in exact arithmetic), and
// +-1 beyond (erf(4) = 1 - 1.5e-8 rounds to 1). Within 3 ulp of the correctly rounded erf on
// [-5, 5] (tests/tensor/test_fast_math.cpp); NaN stays NaN.
FG_ALWAYS_INLINE float fast_erff(float x) {
  const float xc = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x), s = xc * xc;
  const float p = 1.1283791680811757f +
                  s * (0.18527984407141287f +
                       s * (0.054354045019517898f +
                            s * (0.0038564796763819508f +
                                 s * (0.00038086153809705424f + s * (4.71518212848826e-06f + s * -1.336060065360023e-08f)))));
  const float q = 1.0f + s * (0.49753338424809196f +
                              s * (0.11401400459067293f +
                                   s * (0.015479855490941269f + s * (0.0013106948280821385f + s * 6.3404170327957012e-05f))));
  float y = xc * p / q;
  y = y > 1.0f ? 1.0f : (y < -1.0f ? -1.0f : y);
  y = xc == 4.0f ? 1.0f : (xc == -4.0f ? -1.0f : y);  // |x| >= 4: erf rounds to +-1 exactly
  return x != x ? x : y;
}

// Overloads the elementwise functors pick up by unqualified lookup.
FG_ALWAYS_INLINE float exp(float x) { return fast_expf(x); }
FG_ALWAYS_INLINE double exp(double x) { return std::exp(x); }
FG_ALWAYS_INLINE float expm1(float x) { return fast_expm1f(x); }
FG_ALWAYS_INLINE double expm1(double x) { return std::expm1(x); }
FG_ALWAYS_INLINE float tanh(float x) { return fast_tanhf(x); }
FG_ALWAYS_INLINE double tanh(double x) { return std::tanh(x); }
FG_ALWAYS_INLINE float log(float x) { return fast_logf(x); }
FG_ALWAYS_INLINE double log(double x) { return std::log(x); }
FG_ALWAYS_INLINE float log1p(float x) { return fast_log1pf(x); }
FG_ALWAYS_INLINE double log1p(double x) { return std::log1p(x); }
FG_ALWAYS_INLINE float erf(float x) { return fast_erff(x); }
FG_ALWAYS_INLINE double erf(double x) { return std::erf(x); }

// e^x and e^x - 1 for x <= 0 (or NaN): sigmoid's and ConcatELU's e^{-|x|}
FG_ALWAYS_INLINE float exp_nonpos(float x) { return fast_exp_nonposf(x); }
FG_ALWAYS_INLINE double exp_nonpos(double x) { return std::exp(x); }
FG_ALWAYS_INLINE float expm1_nonpos(float x) { return fast_expm1_nonposf(x); }
FG_ALWAYS_INLINE double expm1_nonpos(double x) { return std::expm1(x); }

// ConcatELU of one value: [elu(v), elu(-v)] from one expm1, e^{-|v|} - 1
template <class T>
FG_ALWAYS_INLINE void concat_elu_pair(T v, T& pos, T& neg) {
  const T em = expm1_nonpos(-std::fabs(v));
  pos = v > T(0) ? v : em;
  neg = v > T(0) ? em : -v;
}

}  // namespace fg::cpu
