// Reference layer norm, float and double. x (and y, dy, dx) is viewed as [outer, C, inner] and is
// normalized over C for each (outer, inner) position:
//   mean = sum_c x / C,  var = sum_c (x - mean)^2 / C (biased),  rstd = 1 / sqrt(var + eps),
//   y = (x - mean) * rstd * gamma[c] + beta[c]   (gamma, beta: C elements, either may be null).
// mean and rstd have outer*inner elements, index o*inner + i (C = 0: mean 0, rstd 1/sqrt(eps)).
// With gate = h [outer, 2C, inner] (forward only) the normalized input is GatedConv's residual
// x + a * sigmoid(b), [a, b] = chunk(h, 2, 1), computed per tile and never written out.
// Backward, with xhat = (x - mean) * rstd and g = dy * gamma:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),
//   dgamma[c] = sum_{o,i} dy * xhat,  dbeta[c] = sum_{o,i} dy   (overwritten, if non-null).
// Channel-blocked x (p.block = B > 0) is [outer, C/B, inner, B]: one kernel serves both layouts by
// seeing x as [outer, C/B, inner*B] rows, where element q of row g is channel g*B + q%B at position
// q/B (B = 1 is the plain layout). Sums over the C/B rows are taken per element, then over each
// run of B elements, so the inner loops stay unit-stride in both layouts.
// Per-position sums over the C channels accumulate in T (C is at most a few hundred here);
// dgamma/dbeta, sums over every position, in double. Work items are (outer, tile of a row); dgamma/dbeta are reduced
// over fixed chunks of `outer` and then summed in chunk order, so results do not depend on the
// thread count and no two threads write the same element.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "flowgrad/tensor/error.h"

namespace fg::cpu::ref {
namespace {
#define FG_HD __attribute__((always_inline))
#include "tensor/elementwise_math.inc"
#undef FG_HD
constexpr int64_t kTile = 64;           // row elements handled together (a multiple of every B)
constexpr int64_t kParallelWork = 1 << 14;
constexpr int64_t kMaxChunks = 64;      // outer chunks for the dgamma/dbeta reduction

// Runs f(e, pos, j) for the elements e of a tile's first np positions (pos: e's position, j: its
// lane, the channel within the block), vectorized along a position's B channels (blocked) or
// along positions (plain, B = 1). Per-position values are then read once per vector, not spread.
template <int B, class F>
__attribute__((always_inline)) inline void for_elements(int64_t np, F f) {
  if constexpr (B == 1) {
#pragma omp simd
    for (int64_t e = 0; e < np; ++e) f(e, e, 0);
  } else {
    for (int64_t pos = 0; pos < np; ++pos)
#pragma omp simd
      for (int j = 0; j < B; ++j) f(pos * B + j, pos, j);
  }
}

// out[pos] = scale * (sum of acc over position pos's B elements), for a tile's np positions
template <int B, class T>
__attribute__((always_inline)) inline void position_sums(const T* acc, int64_t np, T scale, T* out) {
  for (int64_t pos = 0; pos < np; ++pos) {
    T t = 0;
#pragma omp simd reduction(+ : t)
    for (int j = 0; j < B; ++j) t += acc[pos * B + j];
    out[pos] = t * scale;
  }
}

// the B per-channel values of row g (gamma or beta), or `missing` where there are none
template <class T, int B>
void channel_row(const T* v, int64_t g, T missing, T* out) {
  for (int j = 0; j < B; ++j) out[j] = v ? v[g * B + j] : missing;
}

// One tile of forward: row elements [q0, q0 + len) of item o. Inlined twice, for a full tile
// (len = kTile, a constant: fixed trip counts) and for a row's last, shorter one.
template <class T, int B>
__attribute__((always_inline)) inline void forward_tile(const T* x, const T* gate, const T* gamma, const T* beta, T* y,
                                                        T* mean, T* rstd, T* gated, const LayerNormParams& p,
                                                        int64_t o, int64_t q0, int64_t len) {
  const int64_t G = p.C / B, row = p.inner * B, base = o * G * row + q0;
  const T inv_c = T(1) / static_cast<T>(p.C), eps = static_cast<T>(p.eps);
  T acc[kTile] = {};
  for (int64_t g = 0; g < G; ++g) {
    const T* xr = x + base + g * row;
    if (gate) {  // the residual x + a * sigmoid(b), [a, b] = chunk(h, 2, 1), kept for the tile
      const T* a = gate + (o * 2 * G + g) * row + q0;
      const T* b = a + G * row;
      T* r = gated + g * kTile;
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) {
        r[q] = xr[q] + a[q] * sigmoid_of(b[q]);
        acc[q] += r[q];
      }
    } else {
      for (int64_t q = 0; q < len; ++q) acc[q] += xr[q];
    }
  }
  auto in_row = [&](int64_t g) { return gate ? gated + g * kTile : x + base + g * row; };
  const int64_t np = len / B;
  T mu[kTile / B], rs[kTile / B];
  position_sums<B>(acc, np, inv_c, mu);
  std::fill(acc, acc + kTile, T(0));
  for (int64_t g = 0; g < G; ++g) {
    const T* xr = in_row(g);
    for_elements<B>(np, [&](int64_t e, int64_t pos, int) {
      const T d = xr[e] - mu[pos];
      acc[e] += d * d;
    });
  }
  position_sums<B>(acc, np, inv_c, rs);
  for (int64_t pos = 0; pos < np; ++pos) rs[pos] = T(1) / std::sqrt(rs[pos] + eps);
  for (int64_t g = 0; g < G; ++g) {
    const T* xr = in_row(g);
    T* yr = y + base + g * row;
    T gm[B], bt[B];
    channel_row<T, B>(gamma, g, T(1), gm);
    channel_row<T, B>(beta, g, T(0), bt);
    for_elements<B>(np, [&](int64_t e, int64_t pos, int j) { yr[e] = (xr[e] - mu[pos]) * rs[pos] * gm[j] + bt[j]; });
  }
  const int64_t m0 = o * p.inner + q0 / B;
  std::copy(mu, mu + np, mean + m0);
  std::copy(rs, rs + np, rstd + m0);
}

template <class T, int B>
void forward(const T* x, const T* gate, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
             const LayerNormParams& p) {
  const int64_t G = p.C / B, row = p.inner * B, nt = (row + kTile - 1) / kTile, items = p.outer * nt;
#pragma omp parallel if (p.outer * p.C * p.inner > kParallelWork)
  {
    std::vector<T> gated(gate ? G * kTile : 0);  // the tile's residual, computed once
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t o = it / nt, q0 = (it % nt) * kTile, len = std::min(kTile, row - q0);
      if (len == kTile)
        forward_tile<T, B>(x, gate, gamma, beta, y, mean, rstd, gated.data(), p, o, q0, kTile);
      else
        forward_tile<T, B>(x, gate, gamma, beta, y, mean, rstd, gated.data(), p, o, q0, len);
    }
  }
}

template <class T, int B>
void backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta,
              const LayerNormParams& p) {
  const int64_t G = p.C / B, row = p.inner * B, nt = (row + kTile - 1) / kTile, items = p.outer * nt;
  const bool big = p.outer * p.C * p.inner > kParallelWork;
  const T inv_c = T(1) / static_cast<T>(p.C);
#pragma omp parallel for schedule(static) if (big)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t o = it / nt, q0 = (it % nt) * kTile, len = std::min(kTile, row - q0);
    const int64_t base = o * G * row + q0;
    const int64_t np = len / B, m0 = o * p.inner + q0 / B;
    const T* mu = mean + m0;
    const T* rs = rstd + m0;
    T s1[kTile] = {}, s2[kTile] = {}, m1[kTile / B], m2[kTile / B];
    for (int64_t g = 0; g < G; ++g) {
      const T* xr = x + base + g * row;
      const T* dr = dy + base + g * row;
      T gm[B];
      channel_row<T, B>(gamma, g, T(1), gm);
      for_elements<B>(np, [&](int64_t e, int64_t pos, int j) {
        const T gv = dr[e] * gm[j];
        s1[e] += gv;
        s2[e] += gv * (xr[e] - mu[pos]) * rs[pos];
      });
    }
    position_sums<B>(s1, np, inv_c, m1);
    position_sums<B>(s2, np, inv_c, m2);
    for (int64_t g = 0; g < G; ++g) {
      const T* xr = x + base + g * row;
      const T* dr = dy + base + g * row;
      T* dxr = dx + base + g * row;
      T gm[B];
      channel_row<T, B>(gamma, g, T(1), gm);
      for_elements<B>(np, [&](int64_t e, int64_t pos, int j) {
        const T xhat = (xr[e] - mu[pos]) * rs[pos];
        dxr[e] = rs[pos] * (dr[e] * gm[j] - m1[pos] - xhat * m2[pos]);
      });
    }
  }
  if (!dgamma && !dbeta) return;

  // Partial sums per chunk of `outer`, then summed in chunk order per channel.
  const int64_t C = p.C, chunks = std::min<int64_t>(p.outer, kMaxChunks);
  if (chunks <= 0) {
    for (int64_t c = 0; c < C; ++c) {
      if (dgamma) dgamma[c] = T(0);
      if (dbeta) dbeta[c] = T(0);
    }
    return;
  }
  std::vector<double> part(static_cast<size_t>(chunks * 2 * C), 0.0);
#pragma omp parallel for schedule(static) if (big)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    double* pg = part.data() + ch * 2 * C;
    double* pb = pg + C;
    const int64_t o_lo = p.outer * ch / chunks, o_hi = p.outer * (ch + 1) / chunks;
    for (int64_t o = o_lo; o < o_hi; ++o) {
      const T* mo = mean + o * p.inner;
      const T* ro = rstd + o * p.inner;
      for (int64_t g = 0; g < G; ++g) {
        const T* xr = x + (o * G + g) * row;
        const T* dr = dy + (o * G + g) * row;
        double sg[B] = {}, sb[B] = {};
        for (int64_t i = 0; i < p.inner; ++i) {
          const double m = static_cast<double>(mo[i]), r = static_cast<double>(ro[i]);
          for (int j = 0; j < B; ++j) {
            const double d = static_cast<double>(dr[i * B + j]);
            sg[j] += d * (static_cast<double>(xr[i * B + j]) - m) * r;
            sb[j] += d;
          }
        }
        for (int j = 0; j < B; ++j) {
          pg[g * B + j] += sg[j];
          pb[g * B + j] += sb[j];
        }
      }
    }
  }
#pragma omp parallel for schedule(static) if (big)
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sb = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      sg += part[ch * 2 * C + c];
      sb += part[ch * 2 * C + C + c];
    }
    if (dgamma) dgamma[c] = static_cast<T>(sg);
    if (dbeta) dbeta[c] = static_cast<T>(sb);
  }
}

// the kernels' B for p (1: plain layout)
int block_of(const LayerNormParams& p) {
  const int64_t b = std::max<int64_t>(p.block, 1);
  FG_CHECK(b == 1 || b == 8 || b == 16, "layer_norm: channel block {} is not supported (8 or 16)", p.block);
  FG_CHECK(p.C % b == 0, "layer_norm: {} channels do not split into blocks of {}", p.C, b);
  return static_cast<int>(b);
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                        const LayerNormParams& p, const T* gate) {
  if (p.outer * p.inner <= 0) return;
  if (p.C <= 0) {  // no channels: the empty sums are 0, so mean 0 and rstd 1/sqrt(eps) (y is empty)
    std::fill(mean, mean + p.outer * p.inner, T(0));
    std::fill(rstd, rstd + p.outer * p.inner, static_cast<T>(1.0 / std::sqrt(p.eps)));
    return;
  }
  switch (block_of(p)) {
    case 8: return forward<T, 8>(x, gate, gamma, beta, y, mean, rstd, p);
    case 16: return forward<T, 16>(x, gate, gamma, beta, y, mean, rstd, p);
    default: return forward<T, 1>(x, gate, gamma, beta, y, mean, rstd, p);
  }
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma,
                         T* dbeta, const LayerNormParams& p) {
  if (p.C <= 0) return;  // (no positions: dgamma and dbeta are still zeroed)
  switch (block_of(p)) {
    case 8: return backward<T, 8>(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, p);
    case 16: return backward<T, 16>(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, p);
    default: return backward<T, 1>(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, p);
  }
}

#define FG_INSTANTIATE(T)                                                                                   \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, const LayerNormParams&, const T*); \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,        \
                                       const LayerNormParams&);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fg::cpu::ref
