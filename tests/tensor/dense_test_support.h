// Helpers shared by the dense-kernel tests (test_dense_kernels.cpp, test_conv_kernels.cpp):
// random f32-representable data, the relative error against a reference, conv problems and their
// f32/f64 reference results, and the NCHW <-> channel-blocked conversion.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/ops_internal.h"

namespace dense_test {

using fg::Conv2dParams;
namespace ref = fg::cpu::ref;

template <class T>
std::vector<T> random_vec(size_t n, std::mt19937& g, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(static_cast<float>(d(g)));  // f32-representable, so f64 sees the same data
  return v;
}

template <class A, class B>
double rel_err(const std::vector<A>& a, const std::vector<B>& r) {
  REQUIRE(a.size() == r.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(r[i])));
    scale = std::max(scale, std::abs(double(r[i])));
    if (std::isnan(double(a[i])) != std::isnan(double(r[i]))) return INFINITY;
  }
  return diff / scale;
}

inline Conv2dParams conv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw, int64_t stride,
                  int64_t pad, int64_t dil, int64_t groups) {
  Conv2dParams p{n, c, h, w, o, kh, kw, 0, 0, stride, stride, pad, pad, dil, dil, groups};
  p.OH = (h + 2 * pad - dil * (kh - 1) - 1) / stride + 1;
  p.OW = (w + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
  return p;
}

// All buffers of one conv problem, f32 data.
struct ConvData {
  Conv2dParams p;
  std::vector<float> x, w, b, dy;
  ConvData(const Conv2dParams& q, std::mt19937& g) : p(q) {
    x = random_vec<float>(p.N * p.C * p.H * p.W, g);
    w = random_vec<float>(p.O * (p.C / p.groups) * p.KH * p.KW, g);
    b = random_vec<float>(p.O, g);
    dy = random_vec<float>(p.N * p.O * p.OH * p.OW, g);
  }
  size_t nx() const { return x.size(); }
  size_t ny() const { return dy.size(); }
};

template <class T>
struct ConvOut {
  std::vector<T> y, dx, dw, db;
};

template <class T>
ConvOut<T> ref_conv(const ConvData& d) {
  const std::vector<T> x(d.x.begin(), d.x.end()), w(d.w.begin(), d.w.end()), b(d.b.begin(), d.b.end()),
      dy(d.dy.begin(), d.dy.end());
  ConvOut<T> r{std::vector<T>(d.ny()), std::vector<T>(d.nx()), std::vector<T>(d.w.size()), std::vector<T>(d.p.O)};
  ref::conv2d_forward<T>(x.data(), w.data(), b.data(), r.y.data(), d.p);
  ref::conv2d_backward_data<T>(dy.data(), w.data(), r.dx.data(), d.p);
  ref::conv2d_backward_weights<T>(x.data(), dy.data(), r.dw.data(), r.db.data(), d.p);
  return r;
}

// NCHW <-> [N, C/b, H, W, b]
inline std::vector<float> blocked(const std::vector<float>& v, int64_t n, int64_t c, int64_t hw, int64_t b, bool to_blocked) {
  std::vector<float> r(v.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t s = 0; s < hw; ++s) {
        const int64_t plain = (i * c + ch) * hw + s, blk = ((i * (c / b) + ch / b) * hw + s) * b + ch % b;
        if (to_blocked) r[blk] = v[plain]; else r[plain] = v[blk];
      }
  return r;
}

// the channel blocks our own kernels take in this build (nChw16c is oneDNN's alone without AVX-512)
inline std::vector<int64_t> our_blocks() {
#ifdef __AVX512F__
  return {8, 16};
#else
  return {8};
#endif
}

}  // namespace dense_test

using namespace dense_test;
