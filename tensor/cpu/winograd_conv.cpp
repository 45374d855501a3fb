// Our own Winograd F(4x4, 3x3) for 3x3 stride-1 convs on nChw8c tensors, forward and backward
// data, for CPUs where oneDNN 2.6 has no Winograd (AVX2; with AVX-512 oneDNN's jit_wino_4x3 runs
// on nChw16c and this path is not taken). Lavin & Gray's points 0, +-1, +-2, inf:
//   y = A^T [ (G g G^T) .* (B^T d B) ] A  per 4x4 output tile, d the 6x6 input patch.
// The weights are transformed on every call into U[36][C][K]. Each thread takes an equal share of
// the tiles, in blocks of kTileBlock, and keeps a block in cache through three steps:
// input transform into V[36][C/8][tile][8], 36 small GEMMs M[a] = V[a] U[a] ([tile][C] times
// [C][K], with a 6 x 16 register tile) into M[36][K/8][tile][8], and the output transform
// (+ bias, ReLU) into y. Backward data is the same conv of dy with the weights flipped and
// transposed (C and O swapped) and padding 2 - pad. Needs AVX2 and FMA at build time.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <omp.h>
#define FG_WINOGRAD 1
#endif

namespace fg::cpu {

bool winograd_allowed() {
  static const bool allowed = [] {
    const char* e = std::getenv("FG_CONV_WINOGRAD");
    return !(e && std::string(e) == "0");
  }();
  return allowed;
}

namespace winograd {

#ifdef FG_WINOGRAD
namespace {

constexpr int64_t kTileBlock = 24;  // tiles per block, a multiple of the GEMM's 6 rows
constexpr int64_t kAlpha = 36;      // 6 x 6 transformed positions

// G of the weight transform, 6 x 3
constexpr float G[6][3] = {{0.25f, 0.0f, 0.0f},          {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                           {-1.0f / 6, 1.0f / 6, -1.0f / 6}, {1.0f / 24, 1.0f / 12, 1.0f / 6},
                           {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0.0f, 0.0f, 1.0f}};

// the conv this file computes: in [N, C/8, H, W, 8] -> out [N, K/8, OH, OW, 8], pad on each side
struct Geom {
  int64_t N, C, H, W, K, OH, OW, pad;
  int64_t tiles_h() const { return (OH + 3) / 4; }
  int64_t tiles_w() const { return (OW + 3) / 4; }
  int64_t tiles() const { return N * tiles_h() * tiles_w(); }
  // floats from one transformed position a to the next in V and M: a block's worth plus one cache
  // line, since a multiple of 1 KiB sends all 36 of a tile's stores to the same few L1 sets
  int64_t ldv() const { return kTileBlock * C + 16; }
  int64_t ldm() const { return kTileBlock * K + 16; }
  static constexpr int64_t ldb = kTileBlock * 8;  // from one channel block to the next in V and M
};

// U[a][c][k] = (G g G^T)[a] for g = the 3x3 kernel from input channel c to output channel k;
// flip: g[i][j] = w[c][k][2 - i][2 - j] (backward data), else w[k][c][i][j] (OIHW). Per input
// channel, the kernels are first gathered k-contiguous, so the transform vectorizes over k.
void transform_weights(const float* w, int64_t C, int64_t K, bool flip, std::vector<float>& U) {
  U.resize(static_cast<size_t>(kAlpha * C * K));
  float* u = U.data();
  parallel_for(C, [&](int64_t b, int64_t e) {
    static thread_local std::vector<float> gk;  // gk[i * 3 + j][k]
    gk.resize(static_cast<size_t>(9 * K));
    for (int64_t c = b; c < e; ++c) {
      for (int64_t k = 0; k < K; ++k)
        for (int ij = 0; ij < 9; ++ij) gk[ij * K + k] = flip ? w[(c * K + k) * 9 + 8 - ij] : w[(k * C + c) * 9 + ij];
      float* uc = u + c * K;
      for (int64_t k = 0; k < K; k += 8) {  // K is a multiple of 8
        __m256 gv[9], t[6][3];
#pragma GCC unroll 9
        for (int ij = 0; ij < 9; ++ij) gv[ij] = _mm256_loadu_ps(gk.data() + ij * K + k);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j)
            t[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(G[i][0]), gv[j],
                                      _mm256_fmadd_ps(_mm256_set1_ps(G[i][1]), gv[3 + j],
                                                      _mm256_mul_ps(_mm256_set1_ps(G[i][2]), gv[6 + j])));
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j)
            _mm256_storeu_ps(uc + (i * 6 + j) * C * K + k,
                             _mm256_fmadd_ps(_mm256_set1_ps(G[j][0]), t[i][0],
                                             _mm256_fmadd_ps(_mm256_set1_ps(G[j][1]), t[i][1],
                                                             _mm256_mul_ps(_mm256_set1_ps(G[j][2]), t[i][2]))));
      }
    }
  }, 1);
}

inline __m256 mul(float s, __m256 v) { return _mm256_mul_ps(_mm256_set1_ps(s), v); }

// B^T d for one column of 6 vectors, in place
inline void input_1d(__m256* d) {
  const __m256 a = _mm256_fnmadd_ps(_mm256_set1_ps(4.0f), d[2], d[4]);  // d4 - 4 d2
  const __m256 b = _mm256_fnmadd_ps(_mm256_set1_ps(4.0f), d[1], d[3]);  // d3 - 4 d1
  const __m256 c = _mm256_sub_ps(d[4], d[2]);
  const __m256 e = mul(2.0f, _mm256_sub_ps(d[3], d[1]));
  const __m256 t0 = _mm256_add_ps(_mm256_fnmadd_ps(_mm256_set1_ps(5.0f), d[2], mul(4.0f, d[0])), d[4]);
  const __m256 t5 = _mm256_add_ps(_mm256_fnmadd_ps(_mm256_set1_ps(5.0f), d[3], mul(4.0f, d[1])), d[5]);
  d[0] = t0;
  d[1] = _mm256_add_ps(a, b);
  d[2] = _mm256_sub_ps(a, b);
  d[3] = _mm256_add_ps(c, e);
  d[4] = _mm256_sub_ps(c, e);
  d[5] = t5;
}

// A^T m for 6 vectors -> 4
inline void output_1d(const __m256* m, __m256* y) {
  const __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
  const __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
  y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
  y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12);
  y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s34, s12);
  y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), m[5]);
}

// A m for 4 vectors -> 6 (the adjoint of output_1d)
inline void adjoint_1d(const __m256* y, __m256* m) {
  const __m256 s02 = _mm256_add_ps(y[0], y[2]), s13 = _mm256_add_ps(y[1], y[3]);
  const __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), y[2], y[0]);
  const __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(8.0f), y[3], mul(2.0f, y[1]));
  m[0] = y[0];
  m[1] = _mm256_add_ps(s02, s13);
  m[2] = _mm256_sub_ps(s02, s13);
  m[3] = _mm256_add_ps(p, q);
  m[4] = _mm256_sub_ps(p, q);
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

// the block's tiles of x -> V[a][C/8][t][8], one channel block at a time (its plane stays in cache)
void input_block(const float* x, const Geom& g, const Tile* tiles, int64_t count, float* V) {
  const int64_t H = g.H, W = g.W, CB = g.C / 8, ld = g.ldv(), pad = g.pad;  // locals: no reloads
  for (int64_t cb = 0; cb < CB; ++cb)
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const int64_t h0 = tl.h - pad, w0 = tl.w - pad;
      const float* xp = x + (tl.n * CB + cb) * H * W * 8;
      __m256 d[6][6];  // d[j][i]: row i of column j
      if (h0 >= 0 && w0 >= 0 && h0 + 6 <= H && w0 + 6 <= W) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j) d[j][i] = _mm256_loadu_ps(xp + ((h0 + i) * W + w0 + j) * 8);
      } else {
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j) {
            const int64_t h = h0 + i, w = w0 + j;
            d[j][i] = h >= 0 && h < H && w >= 0 && w < W ? _mm256_loadu_ps(xp + (h * W + w) * 8) : _mm256_setzero_ps();
          }
      }
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) input_1d(d[j]);
      float* vp = V + cb * Geom::ldb + t * 8;
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) {
        __m256 r[6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) r[j] = d[j][i];
        input_1d(r);
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) _mm256_storeu_ps(vp + (i * 6 + j) * ld, r[j]);
      }
    }
}

// M[a][K/8][t][8] -> y for the block's tiles, + bias, ReLU; one output channel block at a time
void output_block(const float* M, const Geom& g, const Tile* tiles, int64_t count, const float* bias, bool relu,
                  float* y) {
  const int64_t OH = g.OH, OW = g.OW, KB = g.K / 8, ld = g.ldm();
  for (int64_t kb = 0; kb < KB; ++kb) {
    const __m256 b = bias ? _mm256_loadu_ps(bias + kb * 8) : _mm256_setzero_ps();
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const float* mp = M + kb * Geom::ldb + t * 8;
      __m256 s[6][4];  // s[j][i]: A^T applied down column j
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m256 m[6];
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) m[i] = _mm256_loadu_ps(mp + (i * 6 + j) * ld);
        output_1d(m, s[j]);
      }
      const int64_t rows = std::min<int64_t>(4, OH - tl.h), cols = std::min<int64_t>(4, OW - tl.w);
      float* yp = y + ((tl.n * KB + kb) * OH + tl.h) * OW * 8 + tl.w * 8;
      for (int64_t i = 0; i < rows; ++i) {
        __m256 r[6], o[4];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) r[j] = s[j][i];
        output_1d(r, o);
        for (int64_t j = 0; j < cols; ++j) {
          __m256 v = _mm256_add_ps(o[j], b);
          if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
          _mm256_storeu_ps(yp + (i * OW + j) * 8, v);
        }
      }
    }
  }
}

// 6 tiles x (16 or 8) outputs of one position: m = v u, v the tiles' [C/8][tile][8] (Geom::ldb from
// one channel block to the next), u = U[a][C][K] from column k on (K floats a row), m [K/8][tile][8]
template <int NV>
void gemm_6x(const float* v, int64_t CB, const float* u, int64_t K, float* m) {
  __m256 acc[6][NV];
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
    for (int s = 0; s < NV; ++s) acc[r][s] = _mm256_setzero_ps();
  for (int64_t cb = 0; cb < CB; ++cb, v += Geom::ldb, u += 8 * K)
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      __m256 w[NV];
      for (int s = 0; s < NV; ++s) w[s] = _mm256_loadu_ps(u + c * K + s * 8);
#pragma GCC unroll 6
      for (int r = 0; r < 6; ++r) {
        const __m256 a = _mm256_broadcast_ss(v + r * 8 + c);
        for (int s = 0; s < NV; ++s) acc[r][s] = _mm256_fmadd_ps(a, w[s], acc[r][s]);
      }
    }
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
    for (int s = 0; s < NV; ++s) _mm256_storeu_ps(m + s * Geom::ldb + r * 8, acc[r][s]);
}

// dM[a][K/8][t][8] = (A dY A^T)[a] for the block's 4x4 tiles dY of dy (zero past the edges), the
// adjoint of output_block; db[kb] += the tiles' dy
void adjoint_block(const float* dy, const Geom& g, const Tile* tiles, int64_t count, float* M, __m256* db) {
  const int64_t OH = g.OH, OW = g.OW, KB = g.K / 8, ld = g.ldm();
  for (int64_t kb = 0; kb < KB; ++kb) {
    __m256 sum = _mm256_setzero_ps();
    for (int64_t t = 0; t < count; ++t) {
      const Tile& tl = tiles[t];
      const int64_t rows = std::min<int64_t>(4, OH - tl.h), cols = std::min<int64_t>(4, OW - tl.w);
      const float* yp = dy + ((tl.n * KB + kb) * OH + tl.h) * OW * 8 + tl.w * 8;
      __m256 r[4][6];  // r[i][j]: A applied along output row i
      for (int i = 0; i < 4; ++i) {
        __m256 d[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          d[j] = i < rows && j < cols ? _mm256_loadu_ps(yp + (i * OW + j) * 8) : _mm256_setzero_ps();
          sum = _mm256_add_ps(sum, d[j]);
        }
        adjoint_1d(d, r[i]);
      }
      float* mp = M + kb * Geom::ldb + t * 8;
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m256 c[4], m[6];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) c[i] = r[i][j];
        adjoint_1d(c, m);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) _mm256_storeu_ps(mp + (i * 6 + j) * ld, m[i]);
      }
    }
    db[kb] = _mm256_add_ps(db[kb], sum);
  }
}

// du[c8][k8] += sum over the block's tiles of v[t][c8] dm[t][k8]: one channel block of V times one of
// dM (tiles 8 floats apart in both), into rows K floats apart
void gemm_weights(const float* v, const float* dm, int64_t count, float* du, int64_t K) {
  __m256 acc[8];
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) acc[c] = _mm256_loadu_ps(du + c * K);
  for (int64_t t = 0; t < count; ++t) {
    const __m256 w = _mm256_loadu_ps(dm + t * 8);
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(v + t * 8 + c), w, acc[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) _mm256_storeu_ps(du + c * K, acc[c]);
}

// Prefetches (into L2) part `part` of `parts` of what tiles [q0, q1) read of x. Demand loads alone left
// the input transform waiting on memory (3x its in-cache time): its row streams are too short for
// the hardware prefetchers. A sample's share of a block is a run of whole input rows, contiguous
// in each channel block's plane.
void prefetch_input(const float* x, const Geom& g, int64_t q0, int64_t q1, int64_t part, int64_t parts) {
  if (q0 >= q1) return;
  const Tile first = tile_of(g, q0), last = tile_of(g, q1 - 1);
  const int64_t CB = g.C / 8, row = g.W * 8, plane = g.H * row;
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

// Each thread takes one contiguous share of the tiles (equal to within 6) and runs it block by block.
void conv(const float* x, const std::vector<float>& U, const float* bias, bool relu, float* y, const Geom& g) {
  const int64_t tiles = g.tiles(), threads = omp_get_max_threads();
  const int64_t share = (tiles + 6 * threads - 1) / (6 * threads) * 6;
  const float* u = U.data();
  parallel_for(tiles, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> V, M;
    V.resize(static_cast<size_t>(kAlpha * g.ldv()));
    M.resize(static_cast<size_t>(kAlpha * g.ldm()));
    for (int64_t q0 = begin; q0 < end; q0 += kTileBlock) {
      const int64_t count = std::min(kTileBlock, end - q0);
      if (count < kTileBlock) std::fill(V.begin(), V.end(), 0.0f);  // rows past the last tile: 0
      Tile tl[kTileBlock];
      for (int64_t t = 0; t < count; ++t) tl[t] = tile_of(g, q0 + t);
      input_block(x, g, tl, count, V.data());
      const int64_t rows = (count + 5) / 6 * 6;
      for (int64_t a = 0; a < kAlpha; ++a) {
        // the next block's input, a part per position, while the GEMMs run
        prefetch_input(x, g, q0 + kTileBlock, std::min(end, q0 + 2 * kTileBlock), a, kAlpha);
        const float* va = V.data() + a * g.ldv();
        const float* ua = u + a * g.C * g.K;
        float* ma = M.data() + a * g.ldm();
        for (int64_t r = 0; r < rows; r += 6) {
          int64_t k = 0;
          for (; k + 16 <= g.K; k += 16) gemm_6x<2>(va + r * 8, g.C / 8, ua + k, g.K, ma + k * kTileBlock + r * 8);
          if (k < g.K) gemm_6x<1>(va + r * 8, g.C / 8, ua + k, g.K, ma + k * kTileBlock + r * 8);
        }
      }
      output_block(M.data(), g, tl, count, bias, relu, y);
    }
  }, share);
}

// The weight gradient in the transformed domain: dU[a][c][k] = sum over tiles of V[a][t][c] dM[a][t][k],
// each thread over its share of the tiles into its own dU (and db), then dw = G^T (sum of dU) G.
void weight_grad(const float* x, const float* dy, float* dw, float* db, const Geom& g) {
  const int64_t tiles = g.tiles(), threads = omp_get_max_threads(), C = g.C, K = g.K, CB = C / 8, KB = K / 8;
  const int64_t share = (tiles + threads - 1) / threads, slot = kAlpha * C * K + K;  // dU, then db
  static std::mutex mutex;  // guards the slots
  static std::vector<float> slots;
  std::lock_guard<std::mutex> lock(mutex);
  const int64_t used = (tiles + share - 1) / share;
  slots.assign(static_cast<size_t>(used * slot), 0.0f);
  parallel_for(tiles, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> V, M;
    V.resize(static_cast<size_t>(kAlpha * g.ldv()));
    M.resize(static_cast<size_t>(kAlpha * g.ldm()));
    float* du = slots.data() + begin / share * slot;
    std::vector<__m256> dbv(static_cast<size_t>(KB), _mm256_setzero_ps());
    for (int64_t q0 = begin; q0 < end; q0 += kTileBlock) {
      const int64_t count = std::min(kTileBlock, end - q0);
      Tile tl[kTileBlock];
      for (int64_t t = 0; t < count; ++t) tl[t] = tile_of(g, q0 + t);
      input_block(x, g, tl, count, V.data());
      adjoint_block(dy, g, tl, count, M.data(), dbv.data());
      for (int64_t a = 0; a < kAlpha; ++a) {
        prefetch_input(x, g, q0 + kTileBlock, std::min(end, q0 + 2 * kTileBlock), a, kAlpha);
        for (int64_t cb = 0; cb < CB; ++cb)
          for (int64_t kb = 0; kb < KB; ++kb)
            gemm_weights(V.data() + a * g.ldv() + cb * Geom::ldb, M.data() + a * g.ldm() + kb * Geom::ldb, count,
                         du + (a * C + cb * 8) * K + kb * 8, K);
      }
    }
    for (int64_t kb = 0; kb < KB; ++kb) _mm256_storeu_ps(du + kAlpha * C * K + kb * 8, dbv[kb]);
  }, share);
  parallel_for(C, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      for (int64_t k = 0; k < K; k += 8) {
        __m256 t[6][3];  // (dU G)[a1][j]
#pragma GCC unroll 6
        for (int a1 = 0; a1 < 6; ++a1) {
          __m256 row[6];
#pragma GCC unroll 6
          for (int a2 = 0; a2 < 6; ++a2) {
            row[a2] = _mm256_setzero_ps();
            for (int64_t s = 0; s < used; ++s)
              row[a2] = _mm256_add_ps(row[a2], _mm256_loadu_ps(slots.data() + s * slot + ((a1 * 6 + a2) * C + c) * K + k));
          }
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) {
            __m256 acc = _mm256_setzero_ps();
#pragma GCC unroll 6
            for (int a2 = 0; a2 < 6; ++a2) acc = _mm256_fmadd_ps(_mm256_set1_ps(G[a2][j]), row[a2], acc);
            t[a1][j] = acc;
          }
        }
        alignas(32) float out[9][8];
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) {
            __m256 acc = _mm256_setzero_ps();
#pragma GCC unroll 6
            for (int a1 = 0; a1 < 6; ++a1) acc = _mm256_fmadd_ps(_mm256_set1_ps(G[a1][i]), t[a1][j], acc);
            _mm256_store_ps(out[i * 3 + j], acc);
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

}  // namespace

// Measured against oneDNN's direct AVX2 conv (2 cores, batch 64, forward, ms): 64->32 at 28x28
// 6.3 / 11.7, 32->16 1.9 / 3.6, 16->32 2.1 / 2.9, 128->16 at 7x7 0.50 / 0.97, but 8->64 at 7x7
// 0.23 / 0.20 and 8->16 at 28x28 0.72 / 0.82: at least 16 channels on each side.
constexpr int64_t kMinChannels = 16;

bool applies(const Conv2dParams& p) {
  return winograd_allowed() && p.src_block == 8 && p.dst_block == 8 && p.groups == 1 && p.KH == 3 && p.KW == 3 &&
         p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && p.pad_h == p.pad_w &&
         p.pad_h >= 0 && p.pad_h <= 2 && p.N > 0 && std::min(p.C, p.O) >= kMinChannels && p.C % 8 == 0 &&
         p.O % 8 == 0 && p.OH == p.H + 2 * p.pad_h - 2 && p.OW == p.W + 2 * p.pad_w - 2 && p.OH > 0 && p.OW > 0;
}

bool conv2d_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dParams& p) {
  if (!applies(p)) return false;
  static thread_local std::vector<float> U;
  transform_weights(w, p.C, p.O, false, U);
  conv(x, U, bias, p.relu != 0, y, Geom{p.N, p.C, p.H, p.W, p.O, p.OH, p.OW, p.pad_h});
  return true;
}

bool conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dParams& p) {
  if (!applies(p)) return false;
  static thread_local std::vector<float> U;
  transform_weights(w, p.O, p.C, true, U);
  conv(dy, U, nullptr, false, dx, Geom{p.N, p.O, p.OH, p.OW, p.C, p.H, p.W, 2 - p.pad_h});
  return true;
}

bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  if (!applies(p)) return false;
  weight_grad(x, dy, dw, dbias, Geom{p.N, p.C, p.H, p.W, p.O, p.OH, p.OW, p.pad_h});
  return true;
}
#else
bool applies(const Conv2dParams&) { return false; }
bool conv2d_forward(const float*, const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_data(const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_weights(const float*, const float*, float*, float*, const Conv2dParams&) { return false; }
#endif

}  // namespace winograd
}  // namespace fg::cpu
