// Reference 2-D convolution (cross-correlation, as in PyTorch), float and double.
// Layouts: x NCHW [N, C, H, W]; w OIHW [O, C/groups, KH, KW]; bias [O] or null; y NCHW [N, O, OH, OW].
// Input row ih = oh * stride_h - pad_h + kh * dil_h (dil 1 = dense); out-of-range taps read zero.
// Channel group g = o / (O/groups) reads input channels [g*C/groups, (g+1)*C/groups).
// All sums (over C/groups*KH*KW, or over N*OH*OW for the weight and bias gradients) accumulate in
// double. Outputs are overwritten, never accumulated: y, dx, dw and dbias.
// Parallelism: forward over (n, o) planes, backward data over (n, c) planes, backward weights over
// (o, c) filter slices and bias over o: every thread owns what it writes, so there are no races,
// and the summation order does not depend on the thread count.
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu::ref {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The output positions [lo, hi) whose tap at offset `off` = k*dil - pad lands inside [0, in):
// 0 <= o*stride + off < in.
struct Span {
  int64_t lo, hi;
};
Span valid_span(int64_t in, int64_t out, int64_t stride, int64_t off) {
  const int64_t lo = std::max<int64_t>(0, ceil_div(-off, stride));
  const int64_t hi = std::min<int64_t>(out, floor_div(in - 1 - off, stride) + 1);
  return {lo, std::max(lo, hi)};
}

constexpr int64_t kParallelWork = int64_t{1} << 15;  // multiply-adds below which we stay serial

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, Og = p.O / p.groups, HW = p.H * p.W, OHW = p.OH * p.OW;
  const int64_t planes = p.N * p.O;
  const bool big = planes * OHW * Cg * p.KH * p.KW > kParallelWork;
#pragma omp parallel if (big)
  {
    std::vector<double> acc(static_cast<size_t>(OHW));
#pragma omp for schedule(static)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t n = q / p.O, o = q % p.O, g = o / Og;
      std::fill(acc.begin(), acc.end(), bias ? static_cast<double>(bias[o]) : 0.0);
      const T* xg = x + (n * p.C + g * Cg) * HW;
      const T* wo = w + o * Cg * p.KH * p.KW;
      for (int64_t c = 0; c < Cg; ++c) {
        for (int64_t kh = 0; kh < p.KH; ++kh) {
          const int64_t offh = kh * p.dil_h - p.pad_h;
          const Span sh = valid_span(p.H, p.OH, p.stride_h, offh);
          for (int64_t kw = 0; kw < p.KW; ++kw) {
            const int64_t offw = kw * p.dil_w - p.pad_w;
            const Span sw = valid_span(p.W, p.OW, p.stride_w, offw);
            const double wv = static_cast<double>(wo[(c * p.KH + kh) * p.KW + kw]);
            for (int64_t oh = sh.lo; oh < sh.hi; ++oh) {
              const T* xr = xg + c * HW + (oh * p.stride_h + offh) * p.W;  // input row start
              double* ar = acc.data() + oh * p.OW;
              const int64_t s = p.stride_w;
#pragma omp simd
              for (int64_t ow = sw.lo; ow < sw.hi; ++ow) ar[ow] += wv * static_cast<double>(xr[ow * s + offw]);
            }
          }
        }
      }
      T* yo = y + q * OHW;
      for (int64_t i = 0; i < OHW; ++i) yo[i] = static_cast<T>(acc[i]);
    }
  }
}

template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, Og = p.O / p.groups, HW = p.H * p.W, OHW = p.OH * p.OW;
  const int64_t planes = p.N * p.C;
  const bool big = planes * OHW * Og * p.KH * p.KW > kParallelWork;
#pragma omp parallel if (big)
  {
    std::vector<double> acc(static_cast<size_t>(HW));
#pragma omp for schedule(static)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t n = q / p.C, c = q % p.C, g = c / Cg, cl = c % Cg;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t ol = 0; ol < Og; ++ol) {
        const int64_t o = g * Og + ol;
        const T* dyo = dy + (n * p.O + o) * OHW;
        const T* wc = w + (o * Cg + cl) * p.KH * p.KW;
        for (int64_t kh = 0; kh < p.KH; ++kh) {
          const int64_t offh = kh * p.dil_h - p.pad_h;
          const Span sh = valid_span(p.H, p.OH, p.stride_h, offh);
          for (int64_t kw = 0; kw < p.KW; ++kw) {
            const int64_t offw = kw * p.dil_w - p.pad_w;
            const Span sw = valid_span(p.W, p.OW, p.stride_w, offw);
            const double wv = static_cast<double>(wc[kh * p.KW + kw]);
            for (int64_t oh = sh.lo; oh < sh.hi; ++oh) {
              double* ar = acc.data() + (oh * p.stride_h + offh) * p.W;  // input row start
              const T* dr = dyo + oh * p.OW;
              const int64_t s = p.stride_w;
              // distinct ow hit distinct ar[ow*s + offw] (s >= 1): safe to vectorize
#pragma omp simd
              for (int64_t ow = sw.lo; ow < sw.hi; ++ow) ar[ow * s + offw] += wv * static_cast<double>(dr[ow]);
            }
          }
        }
      }
      T* dxc = dx + q * HW;
      for (int64_t i = 0; i < HW; ++i) dxc[i] = static_cast<T>(acc[i]);
    }
  }
}

template <class T>
void conv2d_backward_weights(const T* x, const T* dy, T* dw, T* dbias, const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, Og = p.O / p.groups, HW = p.H * p.W, OHW = p.OH * p.OW;
  const int64_t KK = p.KH * p.KW, slices = p.O * Cg;
  const bool big = slices * p.N * OHW * KK > kParallelWork;
#pragma omp parallel if (big)
  {
    std::vector<double> acc(static_cast<size_t>(KK));
#pragma omp for schedule(static)
    for (int64_t q = 0; q < slices; ++q) {
      const int64_t o = q / Cg, cl = q % Cg, c = (o / Og) * Cg + cl;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < p.N; ++n) {
        const T* dyo = dy + (n * p.O + o) * OHW;
        const T* xc = x + (n * p.C + c) * HW;
        for (int64_t kh = 0; kh < p.KH; ++kh) {
          const int64_t offh = kh * p.dil_h - p.pad_h;
          const Span sh = valid_span(p.H, p.OH, p.stride_h, offh);
          for (int64_t kw = 0; kw < p.KW; ++kw) {
            const int64_t offw = kw * p.dil_w - p.pad_w;
            const Span sw = valid_span(p.W, p.OW, p.stride_w, offw);
            double s = 0;
            for (int64_t oh = sh.lo; oh < sh.hi; ++oh) {
              const T* xr = xc + (oh * p.stride_h + offh) * p.W;  // input row start
              const T* dr = dyo + oh * p.OW;
              const int64_t st = p.stride_w;
#pragma omp simd reduction(+ : s)
              for (int64_t ow = sw.lo; ow < sw.hi; ++ow)
                s += static_cast<double>(dr[ow]) * static_cast<double>(xr[ow * st + offw]);
            }
            acc[kh * p.KW + kw] += s;
          }
        }
      }
      T* dwq = dw + q * KK;
      for (int64_t i = 0; i < KK; ++i) dwq[i] = static_cast<T>(acc[i]);
    }
  }
  if (!dbias) return;
#pragma omp parallel for schedule(static) if (p.O * p.N * OHW > kParallelWork)
  for (int64_t o = 0; o < p.O; ++o) {
    double s = 0;
    for (int64_t n = 0; n < p.N; ++n) {
      const T* dyo = dy + (n * p.O + o) * OHW;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < OHW; ++i) s += static_cast<double>(dyo[i]);
    }
    dbias[o] = static_cast<T>(s);
  }
}

#define FG_INSTANTIATE(T)                                                                          \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dParams&);         \
  template void conv2d_backward_data<T>(const T*, const T*, T*, const Conv2dParams&);             \
  template void conv2d_backward_weights<T>(const T*, const T*, T*, T*, const Conv2dParams&);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fg::cpu::ref
