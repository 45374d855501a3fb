// SIMD vectors of L floats (8: AVX2, 16: AVX-512) and the two register-tiled GEMM kernels of our
// channel-blocked convs (winograd_conv.cpp). In nChw{L}c tensors and in the Winograd buffers a
// channel block is one vector, and a row of a GEMM operand is one position (a pixel or a tile).
// Defines FG_SIMD_GEMM where the build has AVX2 and FMA; nothing otherwise.
#pragma once
#if defined(__AVX2__) && defined(__FMA__)
#define FG_SIMD_GEMM 1
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

namespace fg::cpu::simd {

// L-float vectors: L = 8 (AVX2) or 16 (AVX-512). Ops on them are overloads, so kernels are
// written once for both.
template <int L>
struct Simd;
template <>
struct Simd<8> {
  using V = __m256;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float s) { return _mm256_set1_ps(s); }
  static V zero() { return _mm256_setzero_ps(); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
};
inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m256 sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m256 mul(float s, __m256 v) { return _mm256_mul_ps(_mm256_set1_ps(s), v); }
inline __m256 fma(float s, __m256 a, __m256 b) { return _mm256_fmadd_ps(_mm256_set1_ps(s), a, b); }  // s a + b
inline __m256 fma(__m256 s, __m256 a, __m256 b) { return _mm256_fmadd_ps(s, a, b); }
inline __m256 max0(__m256 v) { return _mm256_max_ps(v, _mm256_setzero_ps()); }
#ifdef __AVX512F__
constexpr int kMaxLanes = 16;
template <>
struct Simd<16> {
  using V = __m512;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float s) { return _mm512_set1_ps(s); }
  static V zero() { return _mm512_setzero_ps(); }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
};
inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline __m512 sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
inline __m512 mul(float s, __m512 v) { return _mm512_mul_ps(_mm512_set1_ps(s), v); }
inline __m512 fma(float s, __m512 a, __m512 b) { return _mm512_fmadd_ps(_mm512_set1_ps(s), a, b); }
inline __m512 fma(__m512 s, __m512 a, __m512 b) { return _mm512_fmadd_ps(s, a, b); }
// (the maskz form: GCC 12 warns of the undefined passthrough inside _mm512_max_ps)
inline __m512 max0(__m512 v) { return _mm512_maskz_max_ps(0xFFFF, v, _mm512_setzero_ps()); }
#else
constexpr int kMaxLanes = 8;
#endif


// calls f(std::integral_constant<int, L>) with the lanes L of a channel block (8, or 16 with AVX-512)
template <class F>
inline void with_lanes([[maybe_unused]] int64_t block, F&& f) {  // (unused without AVX-512)
#ifdef __AVX512F__
  if (block == 16) return f(std::integral_constant<int, 16>{});
#endif
  f(std::integral_constant<int, 8>{});
}

// m = v u for 6 positions x NV vectors of outputs: v holds the 6 positions L floats apart, its
// channel blocks ldv apart (CB of them); u is [C][K] row-major from the first output column on;
// m gets the positions L floats apart, its output blocks ldm apart.
// With NV = 2, 12 accumulators: what AVX2's 16 registers hold beside u and v.
template <int L, int NV>
inline void gemm_rows(const float* v, int64_t ldv, int64_t CB, const float* u, int64_t K, float* m, int64_t ldm) {
  using S = Simd<L>;
  using V = typename S::V;
  V acc[6][NV];
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
    for (int s = 0; s < NV; ++s) acc[r][s] = S::zero();
  for (int64_t cb = 0; cb < CB; ++cb, v += ldv, u += L * K)
#pragma GCC unroll 16
    for (int c = 0; c < L; ++c) {
      V w[NV];
      for (int s = 0; s < NV; ++s) w[s] = S::load(u + c * K + s * L);
#pragma GCC unroll 6
      for (int r = 0; r < 6; ++r) {
        const V a = S::bcast(v + r * L + c);
        for (int s = 0; s < NV; ++s) acc[r][s] = fma(a, w[s], acc[r][s]);
      }
    }
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
    for (int s = 0; s < NV; ++s) S::store(m + s * ldm + r * L, acc[r][s]);
}

// du[c][k] += sum over count positions of v[t][c] dm[t][k], for one channel block of v and one
// output block of dm (positions L floats apart in both); du's rows are K floats apart
template <int L>
inline void gemm_sum_outer(const float* v, const float* dm, int64_t count, float* du, int64_t K) {
  using S = Simd<L>;
  using V = typename S::V;
  V acc[L];
#pragma GCC unroll 16
  for (int c = 0; c < L; ++c) acc[c] = S::load(du + c * K);
  for (int64_t t = 0; t < count; ++t) {
    const V w = S::load(dm + t * L);
#pragma GCC unroll 16
    for (int c = 0; c < L; ++c) acc[c] = fma(S::bcast(v + t * L + c), w, acc[c]);
  }
#pragma GCC unroll 16
  for (int c = 0; c < L; ++c) S::store(du + c * K, acc[c]);
}

}  // namespace fg::cpu::simd
#endif
