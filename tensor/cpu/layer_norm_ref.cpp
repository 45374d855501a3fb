// Reference layer norm, float and double. x (and y, dy, dx) is viewed as [outer, C, inner] and is
// normalized over C for each (outer, inner) position:
//   mean = sum_c x / C,  var = sum_c (x - mean)^2 / C (biased),  rstd = 1 / sqrt(var + eps),
//   y = (x - mean) * rstd * gamma[c] + beta[c]   (gamma, beta: C elements, either may be null).
// mean and rstd have outer*inner elements, index o*inner + i.
// Backward, with xhat = (x - mean) * rstd and g = dy * gamma:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),
//   dgamma[c] = sum_{o,i} dy * xhat,  dbeta[c] = sum_{o,i} dy   (overwritten, if non-null).
// All sums accumulate in double. Work items are (outer, block of inner); dgamma/dbeta are reduced
// over fixed chunks of `outer` and then summed in chunk order, so results do not depend on the
// thread count and no two threads write the same element.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu::ref {
namespace {
constexpr int64_t kBlock = 64;          // inner positions handled together
constexpr int64_t kParallelWork = 1 << 14;
constexpr int64_t kMaxChunks = 64;      // outer chunks for the dgamma/dbeta reduction
}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                        const LayerNormParams& p) {
  const int64_t C = p.C, inner = p.inner, nb = (inner + kBlock - 1) / kBlock, items = p.outer * nb;
  if (C <= 0 || items <= 0) return;
#pragma omp parallel for schedule(static) if (p.outer * C * inner > kParallelWork)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t o = it / nb, i0 = (it % nb) * kBlock, len = std::min(kBlock, inner - i0);
    const int64_t base = o * C * inner + i0;
    double mu[kBlock] = {}, var[kBlock] = {}, rs[kBlock];
    for (int64_t c = 0; c < C; ++c) {
      const T* xr = x + base + c * inner;
      for (int64_t i = 0; i < len; ++i) mu[i] += static_cast<double>(xr[i]);
    }
    for (int64_t i = 0; i < len; ++i) mu[i] /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const T* xr = x + base + c * inner;
      for (int64_t i = 0; i < len; ++i) {
        const double d = static_cast<double>(xr[i]) - mu[i];
        var[i] += d * d;
      }
    }
    for (int64_t i = 0; i < len; ++i) rs[i] = 1.0 / std::sqrt(var[i] / static_cast<double>(C) + p.eps);
    for (int64_t c = 0; c < C; ++c) {
      const T* xr = x + base + c * inner;
      T* yr = y + base + c * inner;
      const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
      const double b = beta ? static_cast<double>(beta[c]) : 0.0;
      for (int64_t i = 0; i < len; ++i) yr[i] = static_cast<T>((static_cast<double>(xr[i]) - mu[i]) * rs[i] * g + b);
    }
    for (int64_t i = 0; i < len; ++i) {
      mean[o * inner + i0 + i] = static_cast<T>(mu[i]);
      rstd[o * inner + i0 + i] = static_cast<T>(rs[i]);
    }
  }
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma,
                         T* dbeta, const LayerNormParams& p) {
  const int64_t C = p.C, inner = p.inner, nb = (inner + kBlock - 1) / kBlock, items = p.outer * nb;
  if (C <= 0) return;  // (no positions, items == 0: dgamma and dbeta are still zeroed below)
  const bool big = p.outer * C * inner > kParallelWork;
  const double inv_c = 1.0 / static_cast<double>(C);
#pragma omp parallel for schedule(static) if (big)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t o = it / nb, i0 = (it % nb) * kBlock, len = std::min(kBlock, inner - i0);
    const int64_t base = o * C * inner + i0;
    double mu[kBlock], rs[kBlock], s1[kBlock] = {}, s2[kBlock] = {};
    for (int64_t i = 0; i < len; ++i) {
      mu[i] = static_cast<double>(mean[o * inner + i0 + i]);
      rs[i] = static_cast<double>(rstd[o * inner + i0 + i]);
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* xr = x + base + c * inner;
      const T* dr = dy + base + c * inner;
      const double gm = gamma ? static_cast<double>(gamma[c]) : 1.0;
      for (int64_t i = 0; i < len; ++i) {
        const double g = static_cast<double>(dr[i]) * gm;
        s1[i] += g;
        s2[i] += g * (static_cast<double>(xr[i]) - mu[i]) * rs[i];
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      s1[i] *= inv_c;
      s2[i] *= inv_c;
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* xr = x + base + c * inner;
      const T* dr = dy + base + c * inner;
      T* dxr = dx + base + c * inner;
      const double gm = gamma ? static_cast<double>(gamma[c]) : 1.0;
      for (int64_t i = 0; i < len; ++i) {
        const double xhat = (static_cast<double>(xr[i]) - mu[i]) * rs[i];
        dxr[i] = static_cast<T>(rs[i] * (static_cast<double>(dr[i]) * gm - s1[i] - xhat * s2[i]));
      }
    }
  }
  if (!dgamma && !dbeta) return;

  // Partial sums per chunk of `outer`, then summed in chunk order per channel.
  const int64_t chunks = std::min<int64_t>(p.outer, kMaxChunks);
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
      const T* mo = mean + o * inner;
      const T* ro = rstd + o * inner;
      for (int64_t c = 0; c < C; ++c) {
        const T* xr = x + (o * C + c) * inner;
        const T* dr = dy + (o * C + c) * inner;
        double sg = 0, sb = 0;
        for (int64_t i = 0; i < inner; ++i) {
          const double d = static_cast<double>(dr[i]);
          sg += d * (static_cast<double>(xr[i]) - static_cast<double>(mo[i])) * static_cast<double>(ro[i]);
          sb += d;
        }
        pg[c] += sg;
        pb[c] += sb;
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

#define FG_INSTANTIATE(T)                                                                                   \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, const LayerNormParams&);   \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,        \
                                       const LayerNormParams&);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fg::cpu::ref
