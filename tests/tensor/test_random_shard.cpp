// Draws keyed by the global sample index (tensor/random.h: BatchShard): a shard's rows of a
// batch-shaped draw are the rows of the whole draw, for row sizes that do not fill whole Philox
// counters too, and the generator ends where the whole draw leaves it; other draws are whole.
#include <doctest/doctest.h>

#include "flowgrad/tensor/ops.h"
#include "flowgrad/tensor/random.h"

using namespace fg;

namespace {
using Draw = Tensor (*)(const Shape&, DType, Generator*);
Tensor draw_rand(const Shape& s, DType t, Generator* g) { return rand(s, t, Device::cpu(), g); }
Tensor draw_randn(const Shape& s, DType t, Generator* g) { return randn(s, t, Device::cpu(), g); }
Tensor draw_uniform(const Shape& s, DType t, Generator* g) { return uniform(s, -2.0, 3.0, t, Device::cpu(), g); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}
}  // namespace

TEST_CASE("a shard's rows of a batch-shaped draw are those rows of the whole draw; the generator keeps step") {
  for (Draw draw : {draw_rand, draw_randn, draw_uniform})
    for (DType t : {DType::F32, DType::F64})
      for (int64_t row : {1, 3, 4, 784}) {  // 1 and 3 start rows mid-counter
        const int64_t global = 7;
        Generator whole_gen(11);
        whole_gen.advance(5);
        Tensor whole = draw({global, row}, t, &whole_gen);
        for (auto [first, rows] : {std::pair<int64_t, int64_t>{0, 3}, {3, 4}, {2, 1}, {6, 1}}) {
          CAPTURE(row);
          CAPTURE(first);
          Generator g(11);
          g.advance(5);
          Tensor mine;
          {
            BatchShardScope scope({first, rows, global});
            mine = draw({rows, row}, t, &g);
          }
          CHECK(same_bits(mine, slice(whole, 0, first, first + rows)));
          CHECK(g.offset() == whole_gen.offset());
        }
      }
}

TEST_CASE("under a shard, draws of another leading size, and any draw inside WholeDraw, are whole") {
  Generator a(3), b(3);
  Tensor other, whole_inside;
  {
    BatchShardScope scope({2, 2, 8});
    other = rand({5, 3}, DType::F32, Device::cpu(), &a);  // not batch-shaped
    WholeDraw w;
    CHECK(current_batch_shard() == nullptr);
    whole_inside = randn({2, 3}, DType::F32, Device::cpu(), &a);  // batch-shaped, but asked whole
  }
  CHECK(current_batch_shard() == nullptr);
  CHECK(same_bits(other, rand({5, 3}, DType::F32, Device::cpu(), &b)));
  CHECK(same_bits(whole_inside, randn({2, 3}, DType::F32, Device::cpu(), &b)));
  CHECK(a.offset() == b.offset());
  CHECK_THROWS_WITH_AS(BatchShardScope({6, 4, 8}), doctest::Contains("not within a batch of 8"), Error);
}
