// Glow's sigmoid-scaled affine coupling (SigmoidCouplingParams), forward and backward in one pass
// over z's [N, C, S] rows: za's rows are copied, each zb row k reads h's rows 2k (t) and 2k+1 (r).
// One exp and one log1p per element give s, 1 - s and log s together. Each zb row's sum of log s
// (summed in T within the row) lands in a per-row slot, summed per sample in double afterwards,
// in row order (no dependence on threads).
// Replaces glow's chain of slices, add, sigmoid, mul, neg, softplus, sum and concat (about 14 ops).
#include <cstring>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"

namespace fg::cpu {

namespace {

// s = sigmoid(r), c = 1 - s and l = log s from e = exp(-|r|), without overflow either way
template <class T>
FG_ALWAYS_INLINE void sigmoid_parts(T r, T& s, T& c, T& l) {
  const T e = exp(r < T(0) ? r : -r), inv = T(1) / (T(1) + e);
  s = r >= T(0) ? inv : e * inv;
  c = r >= T(0) ? e * inv : inv;
  l = (r < T(0) ? r : T(0)) - log1p(e);
}

// f(n, c) for each row (sample n, channel c) of [N, C, S], rows split across threads; zb rows cost
// an exp and a log1p per element, hence the smaller grain
template <class F>
void for_rows(const SigmoidCouplingParams& p, F f) {
  parallel_for(p.N * p.C, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) f(q / p.C, q % p.C);
  }, std::max<int64_t>(1, kGrain / 8 / std::max<int64_t>(p.S, 1)));
}

// One zb row of S elements: y, and the row's sum of log s. Plain values only: a float captured by
// reference (the shift) may alias the row stores, and GCC's AVX2 build then ran the loop scalar.
template <class T>
T forward_row(const T* z, const T* t, const T* r, T* y, int64_t S, T shift, bool reverse) {
  T acc = 0;
  if (reverse) {
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < S; ++i) {
      T s, cm, l;
      sigmoid_parts(r[i] + shift, s, cm, l);
      y[i] = z[i] / s - t[i];
      acc += l;
    }
  } else {
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < S; ++i) {
      T s, cm, l;
      sigmoid_parts(r[i] + shift, s, cm, l);
      y[i] = (z[i] + t[i]) * s;
      acc += l;
    }
  }
  return acc;
}

// dz, dt and dr of one zb row from its gradient g and the sample's logdet gradient gl
template <class T>
void backward_row(const T* z, const T* t, const T* r, const T* g, T* dz, T* dt, T* dr, int64_t S, T shift, T gl,
                  bool reverse) {
  if (reverse) {
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) {
      T s, cm, l;
      sigmoid_parts(r[i] + shift, s, cm, l);
      const T q = g[i] / s;
      dz[i] = q;
      dt[i] = -g[i];
      dr[i] = -q * z[i] * cm + gl * cm;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) {
      T s, cm, l;
      sigmoid_parts(r[i] + shift, s, cm, l);
      const T q = g[i] * s;
      dz[i] = q;
      dt[i] = q;
      dr[i] = (q * (z[i] + t[i]) + gl) * cm;
    }
  }
}

template <class T>
void forward_typed(const SigmoidCouplingParams& p, const T* z, const T* h, T* y, T* logdet) {
  const int64_t cb = p.C - p.ca, S = p.S;
  std::vector<double> row_sum(p.N * cb, 0.0);
  for_rows(p, [&](int64_t n, int64_t c) {
    const T* zr = z + (n * p.C + c) * S;
    T* yr = y + (n * p.C + c) * S;
    if (c < p.ca) {
      std::memcpy(yr, zr, S * sizeof(T));
      return;
    }
    const int64_t k = c - p.ca;
    const T* t = h + (n * 2 * cb + 2 * k) * S;
    row_sum[n * cb + k] = forward_row(zr, t, t + S, yr, S, static_cast<T>(p.shift), p.reverse);
  });
  for (int64_t n = 0; n < p.N; ++n) {
    double a = 0;
    for (int64_t k = 0; k < cb; ++k) a += row_sum[n * cb + k];
    logdet[n] = static_cast<T>(a);
  }
}

template <class T>
void backward_typed(const SigmoidCouplingParams& p, const T* z, const T* h, const T* gy, const T* gl, T* dz, T* dh) {
  const int64_t cb = p.C - p.ca, S = p.S;
  for_rows(p, [&](int64_t n, int64_t c) {
    const T* g = gy + (n * p.C + c) * S;
    T* d = dz + (n * p.C + c) * S;
    if (c < p.ca) {
      std::memcpy(d, g, S * sizeof(T));
      return;
    }
    const int64_t off = (n * 2 * cb + 2 * (c - p.ca)) * S;
    backward_row(z + (n * p.C + c) * S, h + off, h + off + S, g, d, dh + off, dh + off + S, S,
                 static_cast<T>(p.shift), gl[n], p.reverse);
  });
}

}  // namespace

void CpuBackend::sigmoid_coupling(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h, Tensor& y,
                                  Tensor& logdet) {
  dispatch_float(z.dtype(), "sigmoid_coupling", [&](auto v) {
    using T = decltype(v);
    forward_typed(p, dense_in<T>(&z), dense_in<T>(&h), dense_out<T>(&y), dense_out<T>(&logdet));
  });
}

void CpuBackend::sigmoid_coupling_backward(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h,
                                           const Tensor& gy, const Tensor& glogdet, Tensor& dz, Tensor& dh) {
  dispatch_float(z.dtype(), "sigmoid_coupling_backward", [&](auto v) {
    using T = decltype(v);
    backward_typed(p, dense_in<T>(&z), dense_in<T>(&h), dense_in<T>(&gy), dense_in<T>(&glogdet), dense_out<T>(&dz),
                   dense_out<T>(&dh));
  });
}

}  // namespace fg::cpu
