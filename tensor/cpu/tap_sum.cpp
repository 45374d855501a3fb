// The shifted-tap sum of a K x K conv computed as a 1x1 conv (flowgrad/detail/params.h, TapSumParams), and
// its adjoint, which scatters dy back to each tap's shifted window. One output plane (n, o) per
// work item forward, one group of z's channels (a plane, or a block) in the adjoint; each tap
// moves runs of rows, shifted by (i - pad, j - pad). In a
// channel-blocked z a channel's positions are Step = b elements apart (8 or 16, a constant, so
// the strided loops vectorize); Step = 1 is the plain layout. When O divides the block (the nets'
// O = 1, 2, 4, 8), a tap's O channels are contiguous and both directions run row by row over
// contiguous O-vectors instead (tap_sum_rows): glow's 128->4 tap sum at 14x14, batch 64, took
// 0.29 ms a call the strided way, 0.12 this way.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {

// the columns w of an output row that tap column j reads in range: w + j - pad in [0, W)
struct Span {
  int64_t lo, hi;
};
Span span_of(const TapSumParams& p, int64_t j) {
  return {std::max<int64_t>(0, p.pad - j), std::min<int64_t>(p.W, p.W + p.pad - j)};
}

// where channel c of sample n starts in z (or dz), plain [N, K*K*O, H, W] or blocked [N, P/b, H, W, b]
int64_t channel_start(const TapSumParams& p, int64_t n, int64_t c, int64_t blocks) {
  const int64_t plane = p.H * p.W;
  if (p.block == 0) return (n * p.K * p.K * p.O + c) * plane;
  return ((n * blocks + c / p.block) * plane) * p.block + c % p.block;
}

int64_t blocks_of(const TapSumParams& p) { return p.block ? (p.K * p.K * p.O + p.block - 1) / p.block : 0; }

// one output plane (n, o) per work item, its taps added row by row
template <int64_t Step, class T>
void tap_sum_typed(const TapSumParams& p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, taps = p.K * p.K, blocks = blocks_of(p), step = Step;
  parallel_for(p.N * p.O, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q % p.O, n = q / p.O;
      T* yp = y + q * plane;
      std::fill(yp, yp + plane, T(0));
      for (int64_t i = 0; i < p.K; ++i) {
        const int64_t h0 = std::max<int64_t>(0, p.pad - i), h1 = std::min<int64_t>(p.H, p.H + p.pad - i);
        for (int64_t j = 0; j < p.K; ++j) {
          const T* zp = z + channel_start(p, n, (i * p.K + j) * p.O + o, blocks);
          const Span s = span_of(p, j);
          for (int64_t h = h0; h < h1; ++h) {
            T* yr = yp + h * p.W;
            const T* zr = zp + (h + i - p.pad) * p.W * step;
            for (int64_t w = s.lo; w < s.hi; ++w) yr[w] += zr[(w + j - p.pad) * step];
          }
        }
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane * taps, 1)));
}

// The blocked z whose O tap channels never straddle a block (O divides b): tap t's channels
// t*O..t*O+O-1 sit side by side in one block, so each output position adds K*K runs of O
// contiguous values. One output row (n, h) per work item, summed position-major in acc [W][O]
// (O a constant, so the adds vectorize) and then written out plane by plane.
template <int64_t Step, int64_t O, class T>
void tap_sum_rows(const TapSumParams& p, const T* z, T* y) {
  const int64_t plane = p.H * p.W, blocks = blocks_of(p);
  parallel_for(p.N * p.H, [&](int64_t b, int64_t e) {
    std::vector<T> acc(p.W * O);
    for (int64_t q = b; q < e; ++q) {
      const int64_t n = q / p.H, h = q % p.H;
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t i = 0; i < p.K; ++i) {
        const int64_t hs = h + i - p.pad;
        if (hs < 0 || hs >= p.H) continue;
        for (int64_t j = 0; j < p.K; ++j) {
          const T* zr = z + channel_start(p, n, (i * p.K + j) * O, blocks) + hs * p.W * Step;
          const Span s = span_of(p, j);
          for (int64_t w = s.lo; w < s.hi; ++w)
            for (int64_t o = 0; o < O; ++o) acc[w * O + o] += zr[(w + j - p.pad) * Step + o];
        }
      }
      for (int64_t o = 0; o < O; ++o) {
        T* yr = y + (n * O + o) * plane + h * p.W;
        for (int64_t w = 0; w < p.W; ++w) yr[w] = acc[w * O + o];
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(p.W * p.K * p.K * O, 1)));
}

// The adjoint of tap_sum_rows: one row (n, h') of every block of dz per work item, zeroed, then
// for each tap (i, j) in range dz[h', w'][t*O..] = dy[:, h' - i + pad, w' - j + pad], read from
// dy's rows transposed position-major (dyt [K][W][O]) so each write is O contiguous values.
template <int64_t Step, int64_t O, class T>
void tap_sum_backward_rows(const TapSumParams& p, const T* dy, T* dz) {
  const int64_t plane = p.H * p.W, blocks = blocks_of(p);
  parallel_for(p.N * p.H, [&](int64_t b, int64_t e) {
    std::vector<T> dyt(p.K * p.W * O);
    for (int64_t q = b; q < e; ++q) {
      const int64_t n = q / p.H, h = q % p.H;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        T* dr = dz + ((n * blocks + blk) * plane + h * p.W) * Step;
        std::fill(dr, dr + p.W * Step, T(0));
      }
      for (int64_t i = 0; i < p.K; ++i) {
        const int64_t hs = h - i + p.pad;  // the dy row that tap row i reads from dz row h
        if (hs < 0 || hs >= p.H) continue;
        T* t = dyt.data() + i * p.W * O;
        for (int64_t o = 0; o < O; ++o) {
          const T* gr = dy + (n * O + o) * plane + hs * p.W;
          for (int64_t w = 0; w < p.W; ++w) t[w * O + o] = gr[w];
        }
        for (int64_t j = 0; j < p.K; ++j) {
          T* dr = dz + channel_start(p, n, (i * p.K + j) * O, blocks) + h * p.W * Step;
          const Span s = span_of(p, j);  // dy columns w in range; dz column w + j - pad
          for (int64_t w = s.lo; w < s.hi; ++w)
            for (int64_t o = 0; o < O; ++o) dr[(w + j - p.pad) * Step + o] = t[w * O + o];
        }
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(p.W * (blocks * Step + p.K * p.K * O), 1)));
}

// One group of Step channels of a sample per work item (a plane, or a block [H, W, b] of a
// blocked dz), zeroed and then, for each of its channels c = tap * O + o below K*K*O, filled with
// dz[h', w'] = dy[o, h' - i + pad, w' - j + pad] where in range.
template <int64_t Step, class T>
void tap_sum_backward_typed(const TapSumParams& p, const T* dy, T* dz) {
  const int64_t plane = p.H * p.W, channels = p.K * p.K * p.O, groups = (channels + Step - 1) / Step;
  parallel_for(p.N * groups, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t n = q / groups, c0 = (q % groups) * Step;
      T* dp = dz + q * plane * Step;
      std::fill(dp, dp + plane * Step, T(0));
      for (int64_t l = 0; l < Step && c0 + l < channels; ++l) {
        const int64_t c = c0 + l, o = c % p.O, t = c / p.O, i = t / p.K, j = t % p.K;
        const T* gp = dy + (n * p.O + o) * plane;
        const Span s = span_of(p, j);  // the dy columns w whose dz column w + j - pad is in range
        const int64_t h0 = std::max<int64_t>(0, p.pad - i), h1 = std::min<int64_t>(p.H, p.H + p.pad - i);
        for (int64_t h = h0; h < h1; ++h) {  // dy row h feeds dz row h + i - pad
          const T* gr = gp + h * p.W;
          T* dr = dp + (h + i - p.pad) * p.W * Step + l;
          for (int64_t w = s.lo; w < s.hi; ++w) dr[(w + j - p.pad) * Step] = gr[w];
        }
      }
    }
  }, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane * Step, 1)));
}

// f(std::integral_constant<int64_t, Step>) for p's layout: the channel blocks of our convs (8, 16)
template <class F>
void with_step(const TapSumParams& p, F f) {
  FG_CHECK(p.block == 0 || p.block == 8 || p.block == 16, "tap_sum: channel block {} is not supported (8 or 16)",
           p.block);
  if (p.block == 16) return f(std::integral_constant<int64_t, 16>{});
  if (p.block == 8) return f(std::integral_constant<int64_t, 8>{});
  f(std::integral_constant<int64_t, 1>{});
}

// f(O as a constant) when z is blocked and O (1, 2, 4 or 8) divides the block; false otherwise
template <class F>
bool with_rows(const TapSumParams& p, F f) {
  if (p.block == 0 || p.block % p.O != 0) return false;
  switch (p.O) {
    case 1: f(std::integral_constant<int64_t, 1>{}); return true;
    case 2: f(std::integral_constant<int64_t, 2>{}); return true;
    case 4: f(std::integral_constant<int64_t, 4>{}); return true;
    case 8: f(std::integral_constant<int64_t, 8>{}); return true;
    default: return false;
  }
}

}  // namespace

void CpuBackend::tap_sum(const TapSumParams& p, const Tensor& z, Tensor& y) {
  dispatch_float(z.dtype(), "tap_sum", [&](auto v) {
    using T = decltype(v);
    const T* zp = dense_in<T>(&z);
    T* yp = dense_out<T>(&y);
    with_step(p, [&](auto step) {
      if (!with_rows(p, [&](auto o) { tap_sum_rows<step(), o()>(p, zp, yp); })) tap_sum_typed<step()>(p, zp, yp);
    });
  });
}

void CpuBackend::tap_sum_backward(const TapSumParams& p, const Tensor& dy, Tensor& dz) {
  dispatch_float(dy.dtype(), "tap_sum_backward", [&](auto v) {
    using T = decltype(v);
    const T* gp = dense_in<T>(&dy);
    T* dp = dense_out<T>(&dz);
    with_step(p, [&](auto step) {
      if (!with_rows(p, [&](auto o) { tap_sum_backward_rows<step(), o()>(p, gp, dp); }))
        tap_sum_backward_typed<step()>(p, gp, dp);
    });
  });
}

}  // namespace fg::cpu
