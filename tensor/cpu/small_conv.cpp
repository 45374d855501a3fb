// Our own weight gradient for the nets' first convs: 3x3, stride 1, few input channels (at most
// 8) in NCHW, the output gradient channel-blocked (nChw8c, or nChw16c with AVX-512). oneDNN 2.6
// vectorizes these over input channels there are too few of: glow's 2->128 at 14x14, batch 128,
// took 4.5 ms a call on AVX2 (ours 1.4) and its 4->128 at 7x7 on nChw16c ran the reference
// kernel (0.5 s; ours 0.37 ms) (AMD Zen 4, 2 threads). Here an output block is the vector: for
// each image, output block and input channel, 9 accumulators (one per tap) sum dy times the
// broadcast pixel under the tap over the image's positions. Each thread sums its share of the
// images; the shares are added at the end. The image is first copied with its zero border into
// a buffer, so the loop has no edge cases. (A forward on the same plan was slower than oneDNN's:
// AVX2 1.5 vs 1.0 ms, AVX-512 even.) Needs AVX2 and FMA at build time (simd_gemm.h).
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/simd_gemm.h"

#ifdef FG_SIMD_GEMM
#include <omp.h>
#endif

namespace fg::cpu::small_conv {

#ifdef FG_SIMD_GEMM
namespace {
using namespace simd;

constexpr int64_t kMaxChannels = 8;

// One image's C planes with a zero border of pad_h rows and pad_w columns: [C][PH][PW]
struct Padded {
  std::vector<float> buf;
  int64_t PH = 0, PW = 0;

  void fill(const float* x, int64_t n, const Conv2dParams& p) {
    PH = p.H + 2 * p.pad_h;
    PW = p.W + 2 * p.pad_w;
    buf.assign(p.C * PH * PW, 0.0f);
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t h = 0; h < p.H; ++h)
        std::copy_n(x + ((n * p.C + c) * p.H + h) * p.W, p.W, buf.data() + (c * PH + h + p.pad_h) * PW + p.pad_w);
  }
};

// One image and output block (dy: that block's [OH][OW][L] plane), channels c0..c0+CG: adds
// into dw ([C][3][3][L] of the block) and db ([L], when given) the sums over the image's
// positions of dy times the broadcast pixel under each tap, in 9*CG accumulators (output lanes)
template <int L, int CG>
inline void backward_weights_group(const Padded& x, const float* dy, int64_t c0, const Conv2dParams& p, float* dw,
                                   float* db) {
  using S = Simd<L>;
  using V = typename S::V;
  V acc[CG][9], bacc = S::zero();  // (every loop over them unrolled, so they stay in registers)
#pragma GCC unroll 2
  for (int g = 0; g < CG; ++g)
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) acc[g][t] = S::zero();
  for (int64_t h = 0; h < p.OH; ++h)
    for (int64_t w = 0; w < p.OW; ++w) {
      const V d = S::load(dy + (h * p.OW + w) * L);
      if (db) bacc = add(bacc, d);
#pragma GCC unroll 2
      for (int g = 0; g < CG; ++g) {
        const float* xr = x.buf.data() + ((c0 + g) * x.PH + h) * x.PW + w;
        // (hidden from GCC, which would otherwise keep the window's pixels in registers from one
        // position to the next and re-broadcast them there: a shuffle per FMA, half the speed)
        asm("" : "+r"(xr));
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) acc[g][i * 3 + j] = fma(S::bcast(xr + i * x.PW + j), d, acc[g][i * 3 + j]);
      }
    }
#pragma GCC unroll 2
  for (int g = 0; g < CG; ++g)
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) {
      float* o = dw + ((c0 + g) * 9 + t) * L;
      S::store(o, add(S::load(o), acc[g][t]));
    }
  if (db) S::store(db, add(S::load(db), bacc));
}

template <int L>
void backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  const int64_t OB = p.O / L, per = p.C * 9 * L, size = OB * per + OB * L;
  // channels per pass: 2 (18 accumulators) where AVX-512's 32 registers hold them, else 1
  constexpr int CG = L == 16 ? 2 : 1;
  const int threads = std::max(1, omp_get_max_threads());
  std::vector<float> part(threads * size, 0.0f);  // each thread's sums over its images
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* mine = part.data() + t * size;
    Padded img;
    for (int64_t n = p.N * t / nt; n < p.N * (t + 1) / nt; ++n) {
      img.fill(x, n, p);
      for (int64_t ob = 0; ob < OB; ++ob) {
        const float* d = dy + (n * OB + ob) * p.OH * p.OW * L;
        float* db = dbias ? mine + OB * per + ob * L : nullptr;
        int64_t c = 0;
        for (; c + CG <= p.C; c += CG, db = nullptr)
          backward_weights_group<L, CG>(img, d, c, p, mine + ob * per, db);
        for (; c < p.C; ++c, db = nullptr) backward_weights_group<L, 1>(img, d, c, p, mine + ob * per, db);
      }
    }
  }
  for (int64_t o = 0; o < p.O; ++o) {
    const int64_t ob = o / L, l = o % L;
    for (int64_t k = 0; k < p.C * 9; ++k) {
      float s = 0;
      for (int t = 0; t < threads; ++t) s += part[t * size + ob * per + k * L + l];
      dw[o * p.C * 9 + k] = s;
    }
    if (dbias) {
      float s = 0;
      for (int t = 0; t < threads; ++t) s += part[t * size + OB * per + ob * L + l];
      dbias[o] = s;
    }
  }
}

}  // namespace

bool applies(const Conv2dParams& p) {
  const int64_t b = p.dst_block;
  return (b == 8 || b == kMaxLanes) && p.src_block == 0 && p.groups == 1 && p.C >= 1 && p.C <= kMaxChannels &&
         p.O % b == 0 && p.KH == 3 && p.KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 &&
         p.dil_w == 1 && p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h < 3 && p.pad_w < 3 && p.N > 0 && p.OH > 0 &&
         p.OW > 0;
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

}  // namespace fg::cpu::small_conv
