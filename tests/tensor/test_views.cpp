// Views: which layout ops share storage (and copy nothing), the strides they produce, reshape's
// view-or-copy rule, contiguous(), ops on strided inputs against the same ops on dense copies,
// and the counters that measure copies and launches.
#include <doctest/doctest.h>

#include "flowgrad/tensor/counters.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;

namespace {
Tensor seq(const Shape& s) { return arange(0, static_cast<double>(numel(s)), 1, DType::F64).reshape(s); }
}  // namespace

TEST_CASE("slice, chunk, permute, transpose, broadcast_to, squeeze and unsqueeze are views") {
  Tensor x = seq({2, 6, 3});
  Counters before = counters();
  Tensor s = slice(x, 1, 2, 5);
  auto parts = chunk(x, 3, 1);
  Tensor p = permute(x, {2, 0, 1});
  Tensor t = transpose(x, 0, 2);
  Tensor b = broadcast_to(slice(x, 0, 0, 1), {4, 6, 3});
  Tensor u = unsqueeze(s, 1), q = squeeze(u, 1);
  Counters after = counters();
  for (const Tensor* v : {&s, &parts[1], &p, &t, &b, &u, &q}) CHECK(v->shares_storage(x));
  CHECK(after.layout_bytes == before.layout_bytes);
  CHECK(after.launches == before.launches);
  CHECK(s.strides() == std::vector<int64_t>{18, 3, 1});
  CHECK(s.offset() == 6);
  CHECK(p.strides() == std::vector<int64_t>{1, 18, 3});
  CHECK(b.strides() == std::vector<int64_t>{0, 3, 1});
  CHECK_FALSE(s.is_contiguous());
  CHECK(parts[0].to_vector<double>() == slice(x, 1, 0, 2).contiguous().to_vector<double>());
  CHECK(q.to_vector<double>() == s.to_vector<double>());
}

TEST_CASE("reshape is a view when the strides allow and a copy otherwise") {
  Tensor x = seq({4, 6});
  CHECK(x.reshape({2, 12}).shares_storage(x));
  Tensor rows = slice(x, 0, 1, 3);  // [2, 6], rows contiguous
  CHECK(rows.reshape({12}).shares_storage(x));
  CHECK(rows.reshape({2, 2, 3}).shares_storage(x));
  Tensor cols = slice(x, 1, 1, 4);  // [4, 3], rows have gaps
  CHECK(cols.reshape({4, 3, 1}).shares_storage(x));
  Tensor flat = cols.reshape({12});
  CHECK_FALSE(flat.shares_storage(x));
  CHECK(flat.to_vector<double>() == std::vector<double>{1, 2, 3, 7, 8, 9, 13, 14, 15, 19, 20, 21});
  Tensor pt = permute(x, {1, 0});
  CHECK_FALSE(pt.reshape({24}).shares_storage(x));
  CHECK(pt.reshape({24}).to_vector<double>()[1] == 6);
}

TEST_CASE("contiguous() copies a view once and returns a dense tensor as is") {
  Tensor x = seq({3, 4});
  CHECK(x.contiguous().shares_storage(x));
  Tensor t = transpose(x, 0, 1);
  Counters before = counters();
  Tensor c = t.contiguous();
  CHECK(counters().layout_bytes - before.layout_bytes == 12 * 8);
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage(x));
  CHECK(c.to_vector<double>() == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
}

TEST_CASE("contiguous() of transposing views (the CPU's tiled copy) puts every element where it belongs") {
  // sizes that are not multiples of the 16 x 16 tiles, with outer dims, in 1, 4 and 8 bytes
  for (DType t : {DType::U8, DType::F32, DType::F64}) {
    Tensor x = arange(0, 3 * 37 * 2 * 19, 1, DType::F64).reshape({3, 37, 2, 19}).to(t);
    for (const std::vector<int64_t>& perm : std::vector<std::vector<int64_t>>{{0, 2, 3, 1}, {0, 3, 1, 2}, {3, 0, 2, 1}}) {
      CAPTURE(perm);
      Tensor c = permute(x, perm).contiguous();
      const Shape& s = c.shape();
      auto got = c.to_vector<double>(), src = x.to_vector<double>();
      const int64_t xs[4] = {37 * 2 * 19, 2 * 19, 19, 1};
      bool ok = true;
      int64_t at = 0;
      for (int64_t i = 0; i < s[0]; ++i)
        for (int64_t j = 0; j < s[1]; ++j)
          for (int64_t k = 0; k < s[2]; ++k)
            for (int64_t l = 0; l < s[3]; ++l) {
              const int64_t idx[4] = {i, j, k, l};
              int64_t off = 0;
              for (int d = 0; d < 4; ++d) off += idx[d] * xs[perm[d]];
              ok = ok && got[at++] == src[off];
            }
      CHECK(ok);
    }
  }
}

TEST_CASE("element access needs a dense tensor; to_vector and clone take any view") {
  Tensor x = seq({3, 4});
  Tensor t = transpose(x, 0, 1);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("strided view"), Error);
  CHECK(t.clone().is_contiguous());
  CHECK(t.to_vector<double>() == t.clone().to_vector<double>());
}

TEST_CASE("ops on strided views equal the same ops on dense copies") {
  Generator g(5);
  Tensor base = randn({5, 7, 6}, DType::F64, Device::cpu(), &g);
  Tensor a = permute(base, {2, 0, 1});       // [6, 5, 7]
  Tensor b = slice(base, 1, 1, 6);           // [5, 5, 6]
  Tensor bt = permute(b, {2, 0, 1});         // [6, 5, 5]
  Tensor ad = a.contiguous(), btd = bt.contiguous();
  CHECK(max_abs_diff(tanh(a), tanh(ad)) == 0.0);
  CHECK(max_abs_diff(slice(a, 2, 0, 5) * bt, slice(ad, 2, 0, 5) * btd) == 0.0);
  CHECK(max_abs_diff(sum(a, {0, 2}), sum(ad, {0, 2})) < 1e-12);
  CHECK(max_abs_diff(logsumexp(bt, {1}), logsumexp(btd, {1})) < 1e-12);
  CHECK(max_abs_diff(matmul(transpose(a, 1, 2), slice(ad, 1, 0, 5)),
                     matmul(transpose(a, 1, 2).contiguous(), slice(ad, 1, 0, 5).contiguous())) < 1e-12);
  CHECK(max_abs_diff(where(gt(a, scalar(0.0, DType::F64)), a, sum(bt, {2}, true)),
                     where(gt(ad, scalar(0.0, DType::F64)), ad, sum(btd, {2}, true))) < 1e-12);
}

TEST_CASE("flip reverses one dim; concat writes into slices of its output") {
  Tensor x = seq({2, 3});
  CHECK(flip(x, 1).to_vector<double>() == std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK(flip(x, 0).to_vector<double>() == std::vector<double>{3, 4, 5, 0, 1, 2});
  CHECK(flip(transpose(x, 0, 1), 1).to_vector<double>() == std::vector<double>{3, 0, 4, 1, 5, 2});
  Tensor c = concat({x, transpose(seq({3, 2}), 0, 1)}, 1);
  CHECK(c.to_vector<double>() == std::vector<double>{0, 1, 2, 0, 2, 4, 3, 4, 5, 1, 3, 5});
}

TEST_CASE("each op launch is counted once") {
  Tensor a = ones({8}), b = ones({8});
  Counters before = counters();
  Tensor c = a + b;
  Tensor d = tanh(c);
  Tensor e = sum(d);
  CHECK(counters().launches - before.launches == 3);
  Counters r0 = counters();
  (void)e.item();
  CHECK(counters().host_reads - r0.host_reads == 1);
}
