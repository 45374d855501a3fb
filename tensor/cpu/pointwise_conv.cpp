// Our own weight gradient for 1x1 stride-1 convs on channel-blocked tensors (nChw8c, or nChw16c
// with AVX-512, on both sides): dw[o][c] = sum over images and positions of dy[o] x[c], a GEMM
// over N*H*W. oneDNN 2.6's AVX2 kernel ran these at ~80 GFLOP/s against ~130 forward (glow's
// 128->128 at 14x14, batch 128: 9.7 ms a call, 77 ms a training step, about a fifth of it;
// AMD Zen 4, 2 threads). Here a register tile is J output channels (broadcast from dy's block)
// by S input blocks (x's vectors at the same position): 12 accumulators for 7 loads on AVX2's
// 16 registers, 24 for 11 on AVX-512's 32. Each thread sums its share of the images, one image
// at a time, so that image's x and dy planes stay in L2 while every tile passes over them; the
// threads' sums are added at the end. Needs AVX2 and FMA at build time (simd_gemm.h).
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/simd_gemm.h"

#ifdef FG_SIMD_GEMM
#include <omp.h>
#endif

namespace fg::cpu::pointwise_conv {

#ifdef FG_SIMD_GEMM
namespace {
using namespace simd;

// dw rows o0..o0+J, input blocks cb0..cb0+S (dw's rows C floats apart) += the sums over the P
// positions of one image of dy[o] x[c]: dy the output block holding o0 ([P][L], o0 at lane j0),
// x the image's first input block ([P][L] planes, ldx floats apart)
template <int L, int J, int S>
inline void tile(const float* dy, int64_t j0, const float* x, int64_t ldx, int64_t P, float* dw, int64_t C) {
  using Sd = Simd<L>;
  using V = typename Sd::V;
  V acc[J][S];
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 3
    for (int s = 0; s < S; ++s) acc[j][s] = Sd::load(dw + j * C + s * L);
  for (int64_t q = 0; q < P; ++q) {
    V v[S];
#pragma GCC unroll 3
    for (int s = 0; s < S; ++s) {
      v[s] = Sd::load(x + s * ldx + q * L);
      // (held in a register: GCC would fold the load into each of the J FMAs, J loads for one)
      asm("" : "+x"(v[s]));
    }
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) {
      const V a = Sd::bcast(dy + q * L + j0 + j);
#pragma GCC unroll 3
      for (int s = 0; s < S; ++s) acc[j][s] = fma(a, v[s], acc[j][s]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 3
    for (int s = 0; s < S; ++s) Sd::store(dw + j * C + s * L, acc[j][s]);
}

template <int L>
void backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  constexpr int J = L == 16 ? 8 : 4;
  const int64_t P = p.H * p.W, CB = p.C / L, OB = p.O / L, size = p.O * p.C + p.O;
  const int threads = std::max(1, omp_get_max_threads());
  std::vector<float> part(threads * size, 0.0f);  // each thread's sums over its images (dw, then db)
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* mine = part.data() + t * size;
    for (int64_t n = p.N * t / nt; n < p.N * (t + 1) / nt; ++n) {
      const float* xn = x + n * CB * P * L;
      for (int64_t ob = 0; ob < OB; ++ob) {
        const float* d = dy + (n * OB + ob) * P * L;
        for (int64_t j0 = 0; j0 < L; j0 += J) {
          float* row = mine + (ob * L + j0) * p.C;
          // input blocks 3 at a time; a remainder of 4 as 2 + 2, of 2 or 1 as is
          for (int64_t cb = 0; cb < CB;) {
            const int64_t rem = CB - cb;
            const float* xb = xn + cb * P * L;
            float* out = row + cb * L;
            if (rem >= 3 && rem != 4) tile<L, J, 3>(d, j0, xb, P * L, P, out, p.C), cb += 3;
            else if (rem >= 2) tile<L, J, 2>(d, j0, xb, P * L, P, out, p.C), cb += 2;
            else tile<L, J, 1>(d, j0, xb, P * L, P, out, p.C), cb += 1;
          }
        }
        if (dbias) {
          using Sd = Simd<L>;
          typename Sd::V b = Sd::load(mine + p.O * p.C + ob * L);
          for (int64_t q = 0; q < P; ++q) b = add(b, Sd::load(d + q * L));
          Sd::store(mine + p.O * p.C + ob * L, b);
        }
      }
    }
  }
  auto total = [&](int64_t k) {
    float s = 0;
    for (int t = 0; t < threads; ++t) s += part[t * size + k];
    return s;
  };
  for (int64_t k = 0; k < p.O * p.C; ++k) dw[k] = total(k);
  if (dbias)
    for (int64_t o = 0; o < p.O; ++o) dbias[o] = total(p.O * p.C + o);
}

}  // namespace

bool applies(const Conv2dParams& p) {
  const int64_t b = p.dst_block;
  return (b == 8 || b == kMaxLanes) && p.src_block == b && p.groups == 1 && p.C % b == 0 && p.O % b == 0 &&
         p.C > 0 && p.O > 0 && p.KH == 1 && p.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
         p.pad_w == 0 && p.N > 0 && p.H * p.W > 0;
}

bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  if (!applies(p)) return false;
  with_lanes(p.dst_block, [&](auto l) { backward_weights<l()>(x, dy, dw, dbias, p); });
  return true;
}

#else
bool applies(const Conv2dParams&) { return false; }
bool conv2d_backward_weights(const float*, const float*, float*, float*, const Conv2dParams&) { return false; }
#endif

}  // namespace fg::cpu::pointwise_conv
