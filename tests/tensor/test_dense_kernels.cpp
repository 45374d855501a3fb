// Dense CPU kernels: the reference kernels (conv, matmul, layer norm) against naive formulas and
// f32 against f64; then oneDNN's fast paths against the f32 reference on the same data (our own
// conv kernels: test_conv_kernels.cpp).
//
// Tolerances, always relative to the magnitude of the reference:
//   err = max|a - ref| / max(1, max|ref|).
// - oneDNN f32 vs f32 reference: err <= 1e-4. The reference accumulates in double, oneDNN in f32
//   in its own blocking order; for sums of n terms the f32 rounding error is ~sqrt(n)*6e-8 of the
//   sum of |terms| (n <= ~6e3 here: backward weights over N*OH*OW), i.e. about 1e-5 of the
//   result's scale at worst. A real bug (a wrong tap, pad or group) gives errors of order 1.
// - f32 reference vs f64 reference (same float inputs): err <= 1e-5. Both accumulate in double;
//   the f32 path differs only by rounding outputs (and stored mean/rstd) to f32 (~6e-8).
// - f64 reference vs naive double loops: err <= 1e-12 (only summation order differs).
// - layer norm backward vs central finite differences in f64 (h = 1e-6): err <= 1e-6.
#include "dense_test_support.h"
#include "tensor/ops_internal.h"

using fg::LayerNormParams;
using fg::MatmulParams;
namespace dnn = fg::cpu::onednn;

namespace {

std::vector<double> to_f64(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// The definition, 7 loops in double: y = conv(x, w) + b, and its adjoints dx, dw, db for dy.
void naive_conv(const Conv2dParams& p, const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<double>& b, const std::vector<double>& dy, std::vector<double>& y,
                std::vector<double>& dx, std::vector<double>& dw, std::vector<double>& db) {
  const int64_t Cg = p.C / p.groups, Og = p.O / p.groups;
  y.assign(p.N * p.O * p.OH * p.OW, 0.0);
  dx.assign(x.size(), 0.0);
  dw.assign(w.size(), 0.0);
  db.assign(p.O, 0.0);
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.O; ++o)
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const int64_t yi = ((n * p.O + o) * p.OH + oh) * p.OW + ow;
          y[yi] = b[o];
          db[o] += dy[yi];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < p.KH; ++kh)
              for (int64_t kw = 0; kw < p.KW; ++kw) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dil_h;
                const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dil_w;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                const int64_t xi = ((n * p.C + (o / Og) * Cg + c) * p.H + ih) * p.W + iw;
                const int64_t wi = ((o * Cg + c) * p.KH + kh) * p.KW + kw;
                y[yi] += x[xi] * w[wi];
                dx[xi] += dy[yi] * w[wi];
                dw[wi] += dy[yi] * x[xi];
              }
        }
}

Conv2dParams random_conv(std::mt19937& g) {
  auto u = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  for (;;) {  // draws are sequenced (argument evaluation order is unspecified)
    const int groups = u(1, 3), cg = u(1, 4), og = u(1, 4), n = u(1, 3), h = u(1, 10), w = u(1, 10);
    const int kh = u(1, 4), kw = u(1, 4), stride = u(1, 3), pad = u(0, 2), dil = u(1, 3);
    const Conv2dParams p = conv(n, groups * cg, h, w, groups * og, kh, kw, stride, pad, dil, groups);
    if (p.OH > 0 && p.OW > 0) return p;
  }
}

std::vector<Conv2dParams> tutorial_convs() {
  return {
      conv(8, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1),    // 1->32 3x3 pad 1
      conv(4, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1),   // 32->32 3x3
      conv(4, 64, 28, 28, 64, 1, 1, 1, 0, 1, 1),   // 64->64 1x1
      conv(8, 64, 28, 28, 2, 3, 3, 1, 1, 1, 1),    // 64->2 3x3
      conv(4, 16, 28, 28, 32, 4, 4, 2, 1, 1, 1),   // 4x4 stride 2 pad 1 (28 -> 14)
      conv(4, 32, 14, 14, 32, 3, 3, 1, 1, 1, 2),   // groups = 2
      conv(4, 16, 28, 28, 16, 3, 3, 1, 2, 2, 1),   // dilation 2
  };
}

}  // namespace

TEST_CASE("ref conv equals the naive 7-loop definition (f64), forward and both adjoints") {
  std::mt19937 g(1234);
  for (int t = 0; t < 40; ++t) {
    const ConvData d(random_conv(g), g);
    CAPTURE(t);
    std::vector<double> y, dx, dw, db;
    naive_conv(d.p, to_f64(d.x), to_f64(d.w), to_f64(d.b), to_f64(d.dy), y, dx, dw, db);
    const auto r = ref_conv<double>(d);
    CHECK(rel_err(r.y, y) <= 1e-12);
    CHECK(rel_err(r.dx, dx) <= 1e-12);
    CHECK(rel_err(r.dw, dw) <= 1e-12);
    CHECK(rel_err(r.db, db) <= 1e-12);
  }
}

TEST_CASE("ref conv f32 agrees with ref conv f64") {
  std::mt19937 g(99);
  std::vector<Conv2dParams> ps{conv(2, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1), conv(2, 4, 9, 9, 6, 4, 4, 2, 1, 1, 2)};
  for (int t = 0; t < 10; ++t) ps.push_back(random_conv(g));
  for (const auto& p : ps) {
    const ConvData d(p, g);
    const auto a = ref_conv<float>(d);
    const auto b = ref_conv<double>(d);
    CHECK(rel_err(a.y, b.y) <= 1e-5);
    CHECK(rel_err(a.dx, b.dx) <= 1e-5);
    CHECK(rel_err(a.dw, b.dw) <= 1e-5);
    CHECK(rel_err(a.db, b.db) <= 1e-5);
  }
}

// ---- matmul ----

namespace {
struct MatmulCase {
  MatmulParams p;
  std::vector<float> a, b;
};
MatmulCase matmul_case(int64_t batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool bcast_a, bool bcast_b,
                       std::mt19937& g) {
  MatmulParams p{batch, M, N, K, ta, tb, bcast_a ? 0 : M * K, bcast_b ? 0 : K * N};
  return {p, random_vec<float>((bcast_a ? 1 : batch) * M * K, g), random_vec<float>((bcast_b ? 1 : batch) * K * N, g)};
}
std::vector<double> naive_matmul(const MatmulCase& c) {
  const auto& p = c.p;
  std::vector<double> out(p.batch * p.M * p.N, 0.0);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.M; ++i)
      for (int64_t j = 0; j < p.N; ++j)
        for (int64_t k = 0; k < p.K; ++k) {
          const double av = c.a[b * p.a_batch_stride + (p.trans_a ? k * p.M + i : i * p.K + k)];
          const double bv = c.b[b * p.b_batch_stride + (p.trans_b ? j * p.K + k : k * p.N + j)];
          out[(b * p.M + i) * p.N + j] += av * bv;
        }
  return out;
}
template <class T>
std::vector<T> ref_matmul(const MatmulCase& c) {
  const std::vector<T> a(c.a.begin(), c.a.end()), b(c.b.begin(), c.b.end());
  std::vector<T> out(c.p.batch * c.p.M * c.p.N);
  ref::matmul<T>(a.data(), b.data(), out.data(), c.p);
  return out;
}
std::vector<MatmulCase> matmul_cases(std::mt19937& g) {
  std::vector<MatmulCase> cs;
  const int64_t shapes[][4] = {{1, 1, 1, 1}, {1, 7, 5, 3}, {3, 17, 33, 9}, {4, 64, 48, 96}, {2, 1, 130, 70}};
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (int bc = 0; bc < 3; ++bc)
        cs.push_back(matmul_case(s[0], s[1], s[2], s[3], t & 1, t & 2, bc == 1, bc == 2, g));
  return cs;
}
}  // namespace

TEST_CASE("ref matmul equals the naive triple loop for all transposes and broadcasts (f64 and f32)") {
  std::mt19937 g(7);
  for (const auto& c : matmul_cases(g)) {
    CAPTURE(c.p.batch); CAPTURE(c.p.M); CAPTURE(c.p.N); CAPTURE(c.p.K);
    CAPTURE(c.p.trans_a); CAPTURE(c.p.trans_b); CAPTURE(c.p.a_batch_stride); CAPTURE(c.p.b_batch_stride);
    const auto want = naive_matmul(c);
    CHECK(rel_err(ref_matmul<double>(c), want) <= 1e-12);
    CHECK(rel_err(ref_matmul<float>(c), want) <= 1e-5);
  }
}

TEST_CASE("onednn matmul matches the f32 reference (all transposes, batch, broadcast)") {
  std::mt19937 g(8);
  for (const auto& c : matmul_cases(g)) {
    CAPTURE(c.p.batch); CAPTURE(c.p.M); CAPTURE(c.p.N); CAPTURE(c.p.K);
    CAPTURE(c.p.trans_a); CAPTURE(c.p.trans_b); CAPTURE(c.p.a_batch_stride); CAPTURE(c.p.b_batch_stride);
    std::vector<float> out(c.p.batch * c.p.M * c.p.N, NAN);
    REQUIRE(dnn::matmul(c.a.data(), c.b.data(), out.data(), c.p));
    CHECK(rel_err(out, ref_matmul<float>(c)) <= 1e-4);
  }
  // Both operands broadcast (oneDNN itself rejects it; the wrapper computes one product and copies).
  auto c = matmul_case(3, 5, 6, 7, true, false, true, true, g);
  std::vector<float> out(3 * 5 * 6, NAN);
  REQUIRE(dnn::matmul(c.a.data(), c.b.data(), out.data(), c.p));
  CHECK(rel_err(out, ref_matmul<float>(c)) <= 1e-4);
}

// ---- convolution ----

TEST_CASE("onednn conv matches the f32 reference: forward, backward data, backward weights + bias") {
  std::mt19937 g(42);
  auto check = [&](const Conv2dParams& p, bool must_handle) {
    CAPTURE(p.N); CAPTURE(p.C); CAPTURE(p.H); CAPTURE(p.W); CAPTURE(p.O); CAPTURE(p.KH); CAPTURE(p.KW);
    CAPTURE(p.stride_h); CAPTURE(p.pad_h); CAPTURE(p.dil_h); CAPTURE(p.groups);
    const ConvData d(p, g);
    const auto r = ref_conv<float>(d);
    std::vector<float> y(d.ny(), NAN), y_nb(d.ny(), NAN), dx(d.nx(), NAN), dw(d.w.size(), NAN), db(p.O, NAN),
        dw_nb(d.w.size(), NAN);
    const bool f = dnn::conv2d_forward(d.x.data(), d.w.data(), d.b.data(), y.data(), p);
    const bool f_nb = dnn::conv2d_forward(d.x.data(), d.w.data(), nullptr, y_nb.data(), p);
    const bool bd = dnn::conv2d_backward_data(d.dy.data(), d.w.data(), dx.data(), p);
    const bool bw = dnn::conv2d_backward_weights(d.x.data(), d.dy.data(), dw.data(), db.data(), p);
    const bool bw_nb = dnn::conv2d_backward_weights(d.x.data(), d.dy.data(), dw_nb.data(), nullptr, p);
    if (must_handle) CHECK((f && f_nb && bd && bw && bw_nb));
    if (f) CHECK(rel_err(y, r.y) <= 1e-4);
    if (f_nb) {
      std::vector<float> ynb = r.y;
      for (size_t i = 0; i < ynb.size(); ++i) ynb[i] -= d.b[(i / (p.OH * p.OW)) % p.O];
      CHECK(rel_err(y_nb, ynb) <= 1e-4);
    }
    if (bd) CHECK(rel_err(dx, r.dx) <= 1e-4);
    if (bw) CHECK(rel_err(dw, r.dw) <= 1e-4);
    if (bw) CHECK(rel_err(db, r.db) <= 1e-4);
    if (bw_nb) CHECK(rel_err(dw_nb, r.dw) <= 1e-4);
  };
  SUBCASE("tutorial shapes") {
    for (const auto& p : tutorial_convs()) check(p, true);
  }
  SUBCASE("seeded random shapes (stride, padding, dilation, groups, non-square kernels)") {
    for (int t = 0; t < 30; ++t) {
      const Conv2dParams p = random_conv(g);
      check(p, true);  // including right padding < 0 (stride skips the last input rows)
    }
  }
}

TEST_CASE("onednn conv plans are reused with new data pointers") {
  std::mt19937 g(5);
  const Conv2dParams p = conv(2, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1);
  for (int t = 0; t < 3; ++t) {
    const ConvData d(p, g);
    const auto r = ref_conv<float>(d);
    std::vector<float> y(d.ny()), dx(d.nx()), dw(d.w.size()), db(p.O);
    REQUIRE(dnn::conv2d_forward(d.x.data(), d.w.data(), d.b.data(), y.data(), p));
    REQUIRE(dnn::conv2d_backward_data(d.dy.data(), d.w.data(), dx.data(), p));
    REQUIRE(dnn::conv2d_backward_weights(d.x.data(), d.dy.data(), dw.data(), db.data(), p));
    CHECK(rel_err(y, r.y) <= 1e-4);
    CHECK(rel_err(dx, r.dx) <= 1e-4);
    CHECK(rel_err(dw, r.dw) <= 1e-4);
    CHECK(rel_err(db, r.db) <= 1e-4);
  }
}

// ---- layer norm ----

namespace {
template <class T>
struct LnOut {
  std::vector<T> y, mean, rstd, dx, dg, db;
};
template <class T>
LnOut<T> ref_ln(const LayerNormParams& p, const std::vector<float>& xf, const std::vector<float>& gf,
                const std::vector<float>& bf, const std::vector<float>& dyf, bool affine) {
  const std::vector<T> x(xf.begin(), xf.end()), gm(gf.begin(), gf.end()), bt(bf.begin(), bf.end()),
      dy(dyf.begin(), dyf.end());
  const size_t n = x.size(), s = p.outer * p.inner;
  LnOut<T> r{std::vector<T>(n), std::vector<T>(s), std::vector<T>(s), std::vector<T>(n), std::vector<T>(p.C),
             std::vector<T>(p.C)};
  const T* g = affine ? gm.data() : nullptr;
  ref::layer_norm_forward<T>(x.data(), g, affine ? bt.data() : nullptr, r.y.data(), r.mean.data(), r.rstd.data(), p);
  ref::layer_norm_backward<T>(dy.data(), x.data(), g, r.mean.data(), r.rstd.data(), r.dx.data(), r.dg.data(),
                              r.db.data(), p);
  return r;
}
}  // namespace

TEST_CASE("ref layer norm: backward equals finite differences (f64); f32 agrees with f64") {
  std::mt19937 g(11);
  for (const LayerNormParams p : {LayerNormParams{3, 5, 4, 1e-5}, LayerNormParams{4, 7, 1, 1e-3}}) {
    const size_t n = p.outer * p.C * p.inner;
    const auto x = random_vec<float>(n, g, -1, 2), gm = random_vec<float>(p.C, g), bt = random_vec<float>(p.C, g),
               dy = random_vec<float>(n, g);
    for (bool affine : {true, false}) {
      CAPTURE(affine);
      const auto r = ref_ln<double>(p, x, gm, bt, dy, affine);
      // L = sum(y * dy); dL/dx, dL/dgamma, dL/dbeta by central differences.
      auto loss = [&](std::vector<double> xx, std::vector<double> gg, std::vector<double> bb) {
        std::vector<double> y(n), m(p.outer * p.inner), s(p.outer * p.inner);
        ref::layer_norm_forward<double>(xx.data(), affine ? gg.data() : nullptr, affine ? bb.data() : nullptr,
                                        y.data(), m.data(), s.data(), p);
        double l = 0;
        for (size_t i = 0; i < n; ++i) l += y[i] * dy[i];
        return l;
      };
      const double h = 1e-6;
      auto fd = [&](std::vector<double> v, int which) {
        std::vector<double> grad(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
          auto vp = v, vm = v;
          vp[i] += h;
          vm[i] -= h;
          auto call = [&](std::vector<double>& u) {
            return which == 0 ? loss(u, to_f64(gm), to_f64(bt))
                              : which == 1 ? loss(to_f64(x), u, to_f64(bt)) : loss(to_f64(x), to_f64(gm), u);
          };
          grad[i] = (call(vp) - call(vm)) / (2 * h);
        }
        return grad;
      };
      CHECK(rel_err(r.dx, fd(to_f64(x), 0)) <= 1e-6);
      if (affine) {
        CHECK(rel_err(r.dg, fd(to_f64(gm), 1)) <= 1e-6);
        CHECK(rel_err(r.db, fd(to_f64(bt), 2)) <= 1e-6);
      }
      const auto f = ref_ln<float>(p, x, gm, bt, dy, affine);
      CHECK(rel_err(f.y, r.y) <= 1e-5);
      CHECK(rel_err(f.mean, r.mean) <= 1e-5);
      CHECK(rel_err(f.rstd, r.rstd) <= 1e-5);
      CHECK(rel_err(f.dx, r.dx) <= 1e-5);
      CHECK(rel_err(f.dg, r.dg) <= 1e-5);
      CHECK(rel_err(f.db, r.db) <= 1e-5);
    }
  }
}

TEST_CASE("onednn layer norm matches the f32 reference (inner == 1; declines inner > 1)") {
  std::mt19937 g(12);
  for (const LayerNormParams p : {LayerNormParams{1, 1, 1, 1e-5}, LayerNormParams{7, 5, 1, 1e-5},
                                  LayerNormParams{64, 256, 1, 1e-5}, LayerNormParams{33, 48, 1, 1e-3}}) {
    const size_t n = p.outer * p.C;
    const auto x = random_vec<float>(n, g, -1, 2), gm = random_vec<float>(p.C, g), bt = random_vec<float>(p.C, g),
               dy = random_vec<float>(n, g);
    for (int mode = 0; mode < 4; ++mode) {  // bit 0: gamma, bit 1: beta
      const bool has_g = mode & 1, has_b = mode & 2;
      CAPTURE(p.outer); CAPTURE(p.C); CAPTURE(has_g); CAPTURE(has_b);
      std::vector<float> y(n), mean(p.outer), rstd(p.outer), ry(n), rmean(p.outer), rrstd(p.outer);
      const float* gp = has_g ? gm.data() : nullptr;
      const float* bp = has_b ? bt.data() : nullptr;
      ref::layer_norm_forward<float>(x.data(), gp, bp, ry.data(), rmean.data(), rrstd.data(), p);
      REQUIRE(dnn::layer_norm_forward(x.data(), gp, bp, y.data(), mean.data(), rstd.data(), p));
      CHECK(rel_err(y, ry) <= 1e-4);
      CHECK(rel_err(mean, rmean) <= 1e-4);
      CHECK(rel_err(rstd, rrstd) <= 1e-4);
      // backward from the reference statistics, with each combination of requested gradients
      for (int want = 0; want < 4; ++want) {
        CAPTURE(want);
        std::vector<float> dx(n, NAN), dg(p.C, NAN), db(p.C, NAN), rdx(n), rdg(p.C), rdb(p.C);
        float* dgp = (want & 1) ? dg.data() : nullptr;
        float* dbp = (want & 2) ? db.data() : nullptr;
        ref::layer_norm_backward<float>(dy.data(), x.data(), gp, rmean.data(), rrstd.data(), rdx.data(), rdg.data(),
                                        rdb.data(), p);
        REQUIRE(dnn::layer_norm_backward(dy.data(), x.data(), gp, rmean.data(), rrstd.data(), dx.data(), dgp, dbp,
                                         p));
        CHECK(rel_err(dx, rdx) <= 1e-4);
        if (dgp) CHECK(rel_err(dg, rdg) <= 1e-4);
        if (dbp) CHECK(rel_err(db, rdb) <= 1e-4);
      }
    }
  }
  const LayerNormParams p{2, 3, 4, 1e-5};
  std::vector<float> x(24, 1.f), y(24), m(8), s(8), dx(24);
  CHECK_FALSE(dnn::layer_norm_forward(x.data(), nullptr, nullptr, y.data(), m.data(), s.data(), p));
  CHECK_FALSE(dnn::layer_norm_backward(x.data(), x.data(), nullptr, m.data(), s.data(), dx.data(), nullptr, nullptr, p));
}
