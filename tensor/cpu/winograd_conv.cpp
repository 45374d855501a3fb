// Our own Winograd F(4x4, 3x3) for 3x3 stride-1 convs on channel-blocked tensors (nChw8c, and
// nChw16c where the build has AVX-512): forward (to blocked or, for the nets' last convs, NCHW
// output), backward data and backward weights. oneDNN 2.6 has no Winograd for AVX2, and on
// AVX-512 its jit_wino_4x3 was slower than this (AMD Zen 4, 2 cores: 64->32 at 28x28 fwd 5.5 /
// 4.3 ms, bwd data 5.2 / 4.2, bwd weights, where it runs direct, 9.6 / 5.3). Lavin & Gray's
// points 0, +-1, +-2, inf:
//   y = A^T [ (G g G^T) .* (B^T d B) ] A  per 4x4 output tile, d the 6x6 input patch.
// The weights are transformed on every call into U[36][C][K]. Each thread takes an equal share of
// the tiles, in blocks of kTileBlock, and keeps a block in cache through three steps: input
// transform into V[36][C/L][tile][L] (L = the channel block, one vector), 36 small GEMMs
// M[a] = V[a] U[a] ([tile][C] times [C][K], with a 6 x 2L register tile) into M[36][K/L][tile][L],
// and the output transform (+ bias, ReLU) into y. Backward data is the same conv of dy with the
// weights flipped and transposed (C and O swapped) and padding 2 - pad. Backward weights sums
// V[a]^T (A dY A^T)[a] over the tiles and transforms back with G. Needs AVX2 and FMA at build time.
#include <algorithm>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd_gemm.h"

#ifdef FG_SIMD_GEMM
#include <omp.h>
#endif

namespace fg::cpu {

namespace winograd {

#ifdef FG_SIMD_GEMM
namespace {
using namespace simd;

constexpr int64_t kTileBlock = 24;  // tiles per block, a multiple of the GEMM's 6 rows
constexpr int64_t kAlpha = 36;      // 6 x 6 transformed positions

// G of the weight transform, 6 x 3
constexpr float G[6][3] = {{0.25f, 0.0f, 0.0f},          {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                           {-1.0f / 6, 1.0f / 6, -1.0f / 6}, {1.0f / 24, 1.0f / 12, 1.0f / 6},
                           {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0.0f, 0.0f, 1.0f}};

// floats from one channel block to the next in V and M
template <int L>
constexpr int64_t kLdb = kTileBlock * L;

// the conv this file computes: in [N, C/L, H, W, L] -> out [N, K/L, OH, OW, L], pad on each side;
// with out_k > 0 the out is NCHW [N, out_k, OH, OW] instead, K being out_k rounded up to whole
// blocks (the rest zero weights)
struct Geom {
  int64_t N, C, H, W, K, OH, OW, pad, out_k = 0;
  int64_t tiles_h() const { return (OH + 3) / 4; }
  int64_t tiles_w() const { return (OW + 3) / 4; }
  int64_t tiles() const { return N * tiles_h() * tiles_w(); }
  // floats from one transformed position a to the next in V and M: a block's worth plus one cache
  // line, since a multiple of 1 KiB sends all 36 of a tile's stores to the same few L1 sets
  int64_t ldv() const { return kTileBlock * C + 16; }
  int64_t ldm() const { return kTileBlock * K + 16; }
};

// U[a][c][k] = (G g G^T)[a] for g = the 3x3 kernel from input channel c to output channel k < K,
// zero for K <= k < KP (KP a multiple of 8, at least K); flip: g[i][j] = w[c][k][2 - i][2 - j]
// (backward data), else w[k][c][i][j] (OIHW). Per input channel, the kernels are first gathered
// k-contiguous, so the transform vectorizes over k.
void transform_weights(const float* w, int64_t C, int64_t K, int64_t KP, bool flip, std::vector<float>& U) {
  U.resize(static_cast<size_t>(kAlpha * C * KP));
  float* u = U.data();
  parallel_for(C, [&](int64_t b, int64_t e) {
    static thread_local std::vector<float> gk;  // gk[i * 3 + j][k]
    gk.assign(static_cast<size_t>(9 * KP), 0.0f);
    for (int64_t c = b; c < e; ++c) {
      for (int64_t k = 0; k < K; ++k)
        for (int ij = 0; ij < 9; ++ij) gk[ij * KP + k] = flip ? w[(c * K + k) * 9 + 8 - ij] : w[(k * C + c) * 9 + ij];
      float* uc = u + c * KP;
      for (int64_t k = 0; k < KP; k += 8) {
        __m256 gv[9], t[6][3];
#pragma GCC unroll 9
        for (int ij = 0; ij < 9; ++ij) gv[ij] = Simd<8>::load(gk.data() + ij * KP + k);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) t[i][j] = fma(G[i][0], gv[j], fma(G[i][1], gv[3 + j], mul(G[i][2], gv[6 + j])));
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j)
            Simd<8>::store(uc + (i * 6 + j) * C * KP + k, fma(G[j][0], t[i][0], fma(G[j][1], t[i][1], mul(G[j][2], t[i][2]))));
      }
    }
  }, 1);
}

// B^T d for one column of 6 vectors, in place
template <class V>
inline void input_1d(V* d) {
  const V a = fma(-4.0f, d[2], d[4]);  // d4 - 4 d2
  const V b = fma(-4.0f, d[1], d[3]);  // d3 - 4 d1
  const V c = sub(d[4], d[2]);
  const V e = mul(2.0f, sub(d[3], d[1]));
  const V t0 = add(fma(-5.0f, d[2], mul(4.0f, d[0])), d[4]);
  const V t5 = add(fma(-5.0f, d[3], mul(4.0f, d[1])), d[5]);
  d[0] = t0;
  d[1] = add(a, b);
  d[2] = sub(a, b);
  d[3] = add(c, e);
  d[4] = sub(c, e);
  d[5] = t5;
}

// A^T m for 6 vectors -> 4
template <class V>
inline void output_1d(const V* m, V* y) {
  const V s12 = add(m[1], m[2]), d12 = sub(m[1], m[2]);
  const V s34 = add(m[3], m[4]), d34 = sub(m[3], m[4]);
  y[0] = add(add(m[0], s12), s34);
  y[1] = fma(2.0f, d34, d12);
  y[2] = fma(4.0f, s34, s12);
  y[3] = add(fma(8.0f, d34, d12), m[5]);
}

// A m for 4 vectors -> 6 (the adjoint of output_1d)
template <class V>
inline void adjoint_1d(const V* y, V* m) {
  const V s02 = add(y[0], y[2]), s13 = add(y[1], y[3]);
  const V p = fma(4.0f, y[2], y[0]);
  const V q = fma(8.0f, y[3], mul(2.0f, y[1]));
  m[0] = y[0];
  m[1] = add(s02, s13);
  m[2] = sub(s02, s13);
  m[3] = add(p, q);
  m[4] = sub(p, q);
  m[5] = y[3];
}

// where tile q starts: sample n, first output row and column
struct Tile {
  int64_t n, h, w;
};
Tile tile_of(const Geom& g, int64_t q) {
  const int64_t th = g.tiles_h(), tw = g.tiles_w();
  return {q / (th * tw), q / tw % th * 4, q % tw * 4};
}

// the block's tiles of x -> V[a][C/L][t][L], one channel block at a time (its plane stays in cache)
template <int L>
void input_block(const float* x, const Geom& g, const Tile* tiles, int64_t count, float* vt) {
  using S = Simd<L>;
  using V = typename S::V;
  const int64_t H = g.H, W = g.W, CB = g.C / L, ld = g.ldv(), pad = g.pad;  // locals: no reloads
  for (int64_t cb = 0; cb < CB; ++cb)
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const int64_t h0 = tl.h - pad, w0 = tl.w - pad;
      const float* xp = x + (tl.n * CB + cb) * H * W * L;
      V d[6][6];  // d[j][i]: row i of column j
      if (h0 >= 0 && w0 >= 0 && h0 + 6 <= H && w0 + 6 <= W) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j) d[j][i] = S::load(xp + ((h0 + i) * W + w0 + j) * L);
      } else {
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j) {
            const int64_t h = h0 + i, w = w0 + j;
            d[j][i] = h >= 0 && h < H && w >= 0 && w < W ? S::load(xp + (h * W + w) * L) : S::zero();
          }
      }
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) input_1d(d[j]);
      float* vp = vt + cb * kLdb<L> + t * L;
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) {
        V r[6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) r[j] = d[j][i];
        input_1d(r);
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) S::store(vp + (i * 6 + j) * ld, r[j]);
      }
    }
}

// M[a][K/L][t][L] -> y for the block's tiles, + bias (K floats), ReLU; one output channel block at
// a time. An NCHW y (g.out_k) gets each tile's block through a small buffer, its channels
// scattered to their planes.
template <int L>
void output_block(const float* M, const Geom& g, const Tile* tiles, int64_t count, const float* bias, bool relu,
                  float* y) {
  using S = Simd<L>;
  using V = typename S::V;
  const int64_t OH = g.OH, OW = g.OW, KB = g.K / L, ld = g.ldm();
  alignas(64) float buf[4][4][L];  // a tile's output block, [row][column][channel], for an NCHW y
  for (int64_t kb = 0; kb < KB; ++kb) {
    const V b = bias ? S::load(bias + kb * L) : S::zero();
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const float* mp = M + kb * kLdb<L> + t * L;
      V s[6][4];  // s[j][i]: A^T applied down column j
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        V m[6];
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) m[i] = S::load(mp + (i * 6 + j) * ld);
        output_1d(m, s[j]);
      }
      const int64_t rows = std::min<int64_t>(4, OH - tl.h), cols = std::min<int64_t>(4, OW - tl.w);
      float* yp = y + ((tl.n * KB + kb) * OH + tl.h) * OW * L + tl.w * L;
      for (int64_t i = 0; i < rows; ++i) {
        V r[6], o[4];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) r[j] = s[j][i];
        output_1d(r, o);
        for (int64_t j = 0; j < cols; ++j) {
          V v = add(o[j], b);
          if (relu) v = max0(v);
          S::store(g.out_k ? buf[i][j] : yp + (i * OW + j) * L, v);
        }
      }
      if (!g.out_k) continue;
      const int64_t channels = std::min<int64_t>(L, g.out_k - kb * L);
      for (int64_t c = 0; c < channels; ++c) {
        float* yc = y + ((tl.n * g.out_k + kb * L + c) * OH + tl.h) * OW + tl.w;
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) yc[i * OW + j] = buf[i][j][c];
      }
    }
  }
}

// dM[a][K/L][t][L] = (A dY A^T)[a] for the block's 4x4 tiles dY of dy (zero past the edges), the
// adjoint of output_block; db[K] += the tiles' dy
template <int L>
void adjoint_block(const float* dy, const Geom& g, const Tile* tiles, int64_t count, float* M, float* db) {
  using S = Simd<L>;
  using V = typename S::V;
  const int64_t OH = g.OH, OW = g.OW, KB = g.K / L, ld = g.ldm();
  for (int64_t kb = 0; kb < KB; ++kb) {
    V sum = S::zero();
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const int64_t rows = std::min<int64_t>(4, OH - tl.h), cols = std::min<int64_t>(4, OW - tl.w);
      const float* yp = dy + ((tl.n * KB + kb) * OH + tl.h) * OW * L + tl.w * L;
      V r[4][6];  // r[i][j]: A applied along output row i
      for (int i = 0; i < 4; ++i) {
        V d[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          d[j] = i < rows && j < cols ? S::load(yp + (i * OW + j) * L) : S::zero();
          sum = add(sum, d[j]);
        }
        adjoint_1d(d, r[i]);
      }
      float* mp = M + kb * kLdb<L> + t * L;
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        V c[4], m[6];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) c[i] = r[i][j];
        adjoint_1d(c, m);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) S::store(mp + (i * 6 + j) * ld, m[i]);
      }
    }
    S::store(db + kb * L, add(S::load(db + kb * L), sum));
  }
}

// Prefetches (into L2) part `part` of `parts` of what tiles [q0, q1) read of x. Demand loads alone left
// the input transform waiting on memory (3x its in-cache time): its row streams are too short for
// the hardware prefetchers. A sample's share of a block is a run of whole input rows, contiguous
// in each channel block's plane.
template <int L>
void prefetch_input(const float* x, const Geom& g, int64_t q0, int64_t q1, int64_t part, int64_t parts) {
  if (q0 >= q1) return;
  const Tile first = tile_of(g, q0), last = tile_of(g, q1 - 1);
  const int64_t CB = g.C / L, row = g.W * L, plane = g.H * row;
  auto each_run = [&](auto&& f) {  // f(start, floats) for each contiguous run
    for (int64_t n = first.n; n <= last.n; ++n) {
      const int64_t h0 = std::max<int64_t>(0, (n == first.n ? first.h : 0) - g.pad);
      const int64_t h1 = std::min<int64_t>(g.H, (n == last.n ? last.h : g.OH) + 6 - g.pad);
      for (int64_t cb = 0; cb < CB && h1 > h0; ++cb) f(x + (n * CB + cb) * plane + h0 * row, (h1 - h0) * row);
    }
  };
  int64_t total = 0;
  each_run([&](const float*, int64_t floats) { total += floats; });
  const int64_t lo = total * part / parts, hi = total * (part + 1) / parts;
  int64_t at = 0;  // floats before the current run
  each_run([&](const float* start, int64_t floats) {
    for (int64_t i = std::max(lo, at); i < std::min(hi, at + floats); i += 16)
      _mm_prefetch(reinterpret_cast<const char*>(start + (i - at)), _MM_HINT_T1);
    at += floats;
  });
}

// Splits the tiles into one contiguous share per thread (equal to within 6) and runs each share a
// block of up to kTileBlock tiles at a time: the block's input transformed into V (rows past its
// last tile zero), then f(tiles, count, V, M, prefetch), where prefetch(a) fetches the a-th of
// kAlpha parts of the next block's input, for f to call while its GEMMs run.
int64_t tile_share(int64_t tiles) {
  const int64_t threads = omp_get_max_threads();
  return (tiles + 6 * threads - 1) / (6 * threads) * 6;
}

template <int L, class F>
void for_blocks(const float* x, const Geom& g, F&& f) {
  parallel_for(g.tiles(), [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> V, M;
    V.resize(static_cast<size_t>(kAlpha * g.ldv()));
    M.resize(static_cast<size_t>(kAlpha * g.ldm()));
    for (int64_t q0 = begin; q0 < end; q0 += kTileBlock) {
      const int64_t count = std::min(kTileBlock, end - q0);
      if (count < kTileBlock) std::fill(V.begin(), V.end(), 0.0f);
      Tile tl[kTileBlock];
      for (int64_t t = 0; t < count; ++t) tl[t] = tile_of(g, q0 + t);
      input_block<L>(x, g, tl, count, V.data());
      const int64_t next = q0 + kTileBlock, next_end = std::min(end, q0 + 2 * kTileBlock);
      f(tl, count, V.data(), M.data(), begin, [&](int64_t a) { prefetch_input<L>(x, g, next, next_end, a, kAlpha); });
    }
  }, tile_share(g.tiles()));
}

template <int L>
void conv(const float* x, const std::vector<float>& U, const float* bias, bool relu, float* y, const Geom& g) {
  const float* u = U.data();
  for_blocks<L>(x, g, [&](const Tile* tl, int64_t count, const float* V, float* M, int64_t, auto&& prefetch) {
    const int64_t rows = (count + 5) / 6 * 6;
    for (int64_t a = 0; a < kAlpha; ++a) {
      prefetch(a);
      const float* ua = u + a * g.C * g.K;
      float* ma = M + a * g.ldm();
      for (int64_t r = 0; r < rows; r += 6) {
        const float* vr = V + a * g.ldv() + r * L;
        int64_t k = 0;
        for (; k + 2 * L <= g.K; k += 2 * L)
          gemm_rows<L, 2>(vr, kLdb<L>, g.C / L, ua + k, g.K, ma + k * kTileBlock + r * L, kLdb<L>);
        if (k < g.K) gemm_rows<L, 1>(vr, kLdb<L>, g.C / L, ua + k, g.K, ma + k * kTileBlock + r * L, kLdb<L>);
      }
    }
    output_block<L>(M, g, tl, count, bias, relu, y);
  });
}

// The weight gradient in the transformed domain: dU[a][c][k] = sum over tiles of V[a][t][c] dM[a][t][k],
// each thread over its share of the tiles into its own dU (and db), then dw = G^T (sum of dU) G.
template <int L>
void weight_grad(const float* x, const float* dy, float* dw, float* db, const Geom& g) {
  const int64_t C = g.C, K = g.K, CB = C / L, KB = K / L, slot = kAlpha * C * K + K;  // dU, then db
  static std::mutex mutex;  // guards the slots
  static std::vector<float> slots;
  std::lock_guard<std::mutex> lock(mutex);
  const int64_t share = tile_share(g.tiles()), used = (g.tiles() + share - 1) / share;
  slots.assign(static_cast<size_t>(used * slot), 0.0f);  // one per share of for_blocks
  for_blocks<L>(x, g, [&](const Tile* tl, int64_t count, const float* V, float* M, int64_t begin, auto&& prefetch) {
    float* du = slots.data() + begin / share * slot;
    adjoint_block<L>(dy, g, tl, count, M, du + kAlpha * C * K);
    for (int64_t a = 0; a < kAlpha; ++a) {
      prefetch(a);
      for (int64_t cb = 0; cb < CB; ++cb)
        for (int64_t kb = 0; kb < KB; ++kb)
          gemm_sum_outer<L>(V + a * g.ldv() + cb * kLdb<L>, M + a * g.ldm() + kb * kLdb<L>, count,
                            du + (a * C + cb * L) * K + kb * L, K);
    }
  });
  parallel_for(C, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      for (int64_t k = 0; k < K; k += 8) {
        __m256 t[6][3];  // (dU G)[a1][j]
#pragma GCC unroll 6
        for (int a1 = 0; a1 < 6; ++a1) {
          __m256 row[6];
#pragma GCC unroll 6
          for (int a2 = 0; a2 < 6; ++a2) {
            row[a2] = Simd<8>::zero();
            for (int64_t s = 0; s < used; ++s)
              row[a2] = add(row[a2], Simd<8>::load(slots.data() + s * slot + ((a1 * 6 + a2) * C + c) * K + k));
          }
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) {
            t[a1][j] = Simd<8>::zero();
#pragma GCC unroll 6
            for (int a2 = 0; a2 < 6; ++a2) t[a1][j] = fma(G[a2][j], row[a2], t[a1][j]);
          }
        }
        float out[9][8];
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) {
            __m256 acc = Simd<8>::zero();
#pragma GCC unroll 6
            for (int a1 = 0; a1 < 6; ++a1) acc = fma(G[a1][i], t[a1][j], acc);
            Simd<8>::store(out[i * 3 + j], acc);
          }
        for (int l = 0; l < 8; ++l)
          for (int ij = 0; ij < 9; ++ij) dw[((k + l) * C + c) * 9 + ij] = out[ij][l];
      }
  }, 1);
  if (db)
    for (int64_t k = 0; k < K; ++k) {
      float sum = 0.0f;
      for (int64_t s = 0; s < used; ++s) sum += slots[static_cast<size_t>(s * slot + kAlpha * C * K + k)];
      db[k] = sum;
    }
}

// Measured against oneDNN's direct AVX2 conv (2 cores, batch 64, forward, ms): 64->32 at 28x28
// 6.3 / 11.7, 32->16 1.9 / 3.6, 16->32 2.1 / 2.9, 128->16 at 7x7 0.50 / 0.97, but 8->64 at 7x7
// 0.23 / 0.20 and 8->16 at 28x28 0.72 / 0.82: at least 16 channels on each side.
constexpr int64_t kMinChannels = 16;
// With NCHW output (the nets' last convs: nothing after them takes blocks), at least 16 inputs and
// two blocks' worth of outputs. With one block a transformed input is used once per load, and the
// GEMM waits on L2: 128->8 at 14x14 (AVX2, batch 64) took 1.7-2.0 ms against 1.6-1.7 for
// oneDNN's 1x1 conv + tap_sum, while 128->16 at 7x7 took 0.55-0.60 ms against 1.05-1.16 for
// oneDNN's direct conv (alternating runs, medians of 60 calls).

// the 3x3 stride-1 conv this file computes, on blocked x (any output layout: see applies)
bool takes(const Conv2dParams& p) {
  const int64_t b = p.src_block;
  return (b == 8 || b == kMaxLanes) && p.groups == 1 &&
         p.KH == 3 && p.KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 &&
         p.pad_h == p.pad_w && p.pad_h >= 0 && p.pad_h <= 2 && p.N > 0 && p.C % b == 0 &&
         p.OH == p.H + 2 * p.pad_h - 2 && p.OW == p.W + 2 * p.pad_w - 2 && p.OH > 0 && p.OW > 0;
}

}  // namespace

bool applies(const Conv2dParams& p) {
  return takes(p) && p.dst_block == p.src_block && std::min(p.C, p.O) >= kMinChannels && p.O % p.src_block == 0;
}

bool applies_nchw_output(const Conv2dParams& p) {
  return takes(p) && p.dst_block == 0 && p.C >= kMinChannels && p.O >= 2 * p.src_block;
}

bool conv2d_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dParams& p) {
  const bool nchw = applies_nchw_output(p);
  if (!nchw && !applies(p)) return false;
  const int64_t L = p.src_block, K = (p.O + L - 1) / L * L;
  static thread_local std::vector<float> U, bias_padded;
  transform_weights(w, p.C, p.O, K, false, U);
  if (bias && K != p.O) {  // output_block reads whole blocks of it
    bias_padded.assign(static_cast<size_t>(K), 0.0f);
    std::copy(bias, bias + p.O, bias_padded.begin());
    bias = bias_padded.data();
  }
  const Geom g{p.N, p.C, p.H, p.W, K, p.OH, p.OW, p.pad_h, nchw ? p.O : 0};
  with_lanes(p.src_block, [&](auto l) { conv<l()>(x, U, bias, p.relu != 0, y, g); });
  return true;
}

bool conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dParams& p) {
  if (!applies(p)) return false;
  static thread_local std::vector<float> U;
  transform_weights(w, p.O, p.C, p.C, true, U);
  const Geom g{p.N, p.O, p.OH, p.OW, p.C, p.H, p.W, 2 - p.pad_h};
  with_lanes(p.src_block, [&](auto l) { conv<l()>(dy, U, nullptr, false, dx, g); });
  return true;
}

bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  if (!applies(p)) return false;
  const Geom g{p.N, p.C, p.H, p.W, p.O, p.OH, p.OW, p.pad_h};
  with_lanes(p.src_block, [&](auto l) { weight_grad<l()>(x, dy, dw, dbias, g); });
  return true;
}
#else
bool applies(const Conv2dParams&) { return false; }
bool applies_nchw_output(const Conv2dParams&) { return false; }
bool conv2d_forward(const float*, const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_data(const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_weights(const float*, const float*, float*, float*, const Conv2dParams&) { return false; }
#endif

}  // namespace winograd
}  // namespace fg::cpu
