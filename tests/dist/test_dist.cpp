// dist/ on any number of ranks (run alone: one; under mpirun: the 'mpi' suite's two): the
// collectives, batch splits, draws keyed by the global index, the gradient reducer against one
// process's backward over the whole batch, and the global batch statistics of ActNorm's init and
// OT-CFM's pairing. Every rank computes the single-process reference itself (the same seeds),
// so each check compares this rank's result with what one process would get.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/dist/reducer.h"
#include "flowgrad/dist/shard.h"
#include "flowgrad/flows/continuous/matching.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/nn/layers.h"

using namespace fg;
using Op = dist::ReduceOp;

namespace {
dist::Communicator& W() { return dist::world(); }

// A global batch every rank can draw alike: seeded, outside any shard.
Tensor global_batch(const Shape& s, uint64_t seed, DType t = DType::F64) {
  Generator g(seed);
  return randn(s, t, Device::cpu(), &g);
}

Tensor my_rows(const Tensor& global) {
  const dist::BatchSplit s = dist::split_batch(global.size(0), W().rank(), W().size());
  return slice(global, 0, s.first, s.first + s.rows).contiguous();
}

std::shared_ptr<nn::Sequential> mlp(uint64_t seed, DType t) {
  manual_seed(seed);
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Linear>(3, 16));
  m->add(std::make_shared<nn::Lambda>("tanh", [](const ag::Var& x) { return ag::tanh(x); }));
  m->add(std::make_shared<nn::Linear>(16, 16));
  m->add(std::make_shared<nn::Lambda>("tanh", [](const ag::Var& x) { return ag::tanh(x); }));
  m->add(std::make_shared<nn::Linear>(16, 2));
  m->to(t);
  return m;
}
}  // namespace

TEST_CASE("collectives: allreduce sum and max, broadcast, allgather of unequal rows, host collectives") {
  const int r = W().rank(), k = W().size();
  Tensor a = full({5}, r + 1.0, DType::F32);
  W().allreduce(a, Op::Sum, "sum");
  CHECK(a.to_vector<double>() == std::vector<double>(5, k * (k + 1) / 2.0));
  Tensor m = from_vector<double>({double(r), -double(r)}, {2});
  W().allreduce(m, Op::Max, "max");
  CHECK(m.to_vector<double>() == std::vector<double>{double(k - 1), 0.0});
  // a strided view is reduced in place too
  Tensor base = full({2, 3}, 1.0, DType::F64);
  Tensor col = slice(base, 1, 1, 2);
  W().allreduce(col, Op::Sum, "view");
  CHECK(base.to_vector<double>() == std::vector<double>{1, double(k), 1, 1, double(k), 1});
  Tensor b = full({3}, r == 0 ? 7.0 : -1.0, DType::I32);
  W().broadcast(b, 0, "broadcast");
  CHECK(b.to_vector<double>() == std::vector<double>(3, 7.0));
  Tensor mine = full({r + 1, 2}, double(r), DType::F32);  // rank r holds r + 1 rows of r
  Tensor all = W().allgather(mine, "allgather");
  std::vector<double> want;
  for (int q = 0; q < k; ++q) want.insert(want.end(), 2 * (q + 1), double(q));
  CHECK(all.shape() == Shape{k * (k + 1) / 2, 2});
  CHECK(all.to_vector<double>() == want);
  std::vector<double> h{1.0, double(r)};
  W().allreduce(h, Op::Sum, "host sum");
  CHECK(h == std::vector<double>{double(k), k * (k - 1) / 2.0});
  const std::vector<uint64_t> ids = W().allgather(uint64_t(100 + r), "host allgather");
  REQUIRE(ids.size() == size_t(k));
  for (int q = 0; q < k; ++q) CHECK(ids[q] == uint64_t(100 + q));
  W().barrier("barrier");
}

TEST_CASE("split_batch: contiguous rows in rank order, at most one apart; too small a batch is refused") {
  for (int k : {1, 2, 3, 4})
    for (int64_t n : {int64_t(k), int64_t(7), int64_t(64)}) {
      int64_t next = 0;
      for (int r = 0; r < k; ++r) {
        dist::BatchSplit s = dist::split_batch(n, r, k);
        CHECK(s.first == next);
        CHECK(s.rows >= n / k);
        CHECK(s.rows <= n / k + 1);
        next += s.rows;
      }
      CHECK(next == n);
    }
  CHECK_THROWS_WITH_AS(dist::split_batch(1, 0, 2), doctest::Contains("cannot be split over 2 ranks"), Error);
}

TEST_CASE("inside a ShardedStep each rank draws its rows of one process's draw; generators stay in step") {
  const int64_t n = 9;  // uneven over 2 ranks; rows of 3 elements start mid-counter
  Generator g(21), ref(21);
  Tensor mine, whole = rand({n, 3}, DType::F32, Device::cpu(), &ref);
  {
    dist::ShardedStep step(W(), n);
    mine = rand({step.split().rows, 3}, DType::F32, Device::cpu(), &g);
  }
  CHECK(mine.to_vector<double>() == my_rows(whole).to_vector<double>());
  CHECK(g.offset() == ref.offset());
  Tensor gathered;
  {
    dist::ShardedStep step(W(), n);
    gathered = dist::allgather_rows(mine, "rows");
  }
  CHECK(gathered.to_vector<double>() == whole.to_vector<double>());
}

TEST_CASE("GradReducer: gradients and loss of the global batch on every rank, for any bucket size") {
  const int64_t n = 10;
  Tensor x = global_batch({n, 3}, 5), y = global_batch({n, 2}, 6);
  auto ref = mlp(1, DType::F64);
  ag::mean(ag::square((*ref)(ag::Var(x)) - ag::Var(y))).backward();  // one process, the whole batch
  const double ref_loss = ag::mean(ag::square((*ref)(ag::Var(x)) - ag::Var(y))).item();
  for (int64_t bucket : {int64_t(1), int64_t(600), int64_t(25) << 20}) {
    CAPTURE(bucket);
    auto model = mlp(1, DType::F64);
    dist::ReducerOptions ro;
    ro.bucket_bytes = ro.first_bucket_bytes = bucket;
    dist::GradReducer red(W(), model->parameters(), ro);
    const dist::BatchSplit s = dist::split_batch(n, W().rank(), W().size());
    ag::Var loss = ag::mean(ag::square((*model)(ag::Var(my_rows(x))) - ag::Var(my_rows(y))));
    Tensor global_loss = red.backward(loss, s.share());
    CHECK(global_loss.item() == doctest::Approx(ref_loss).epsilon(1e-12));
    auto p = model->parameters(), q = ref->parameters();
    std::vector<Tensor> grads;
    for (size_t i = 0; i < p.size(); ++i) {
      CHECK(max_abs_diff(p[i].grad(), q[i].grad()) < 1e-12);
      grads.push_back(p[i].grad());
    }
    const auto sums = W().allgather(dist::checksum(grads), "gradient checksums");
    for (uint64_t c : sums) CHECK(c == sums[0]);  // bit-identical on every rank
    const auto& t = red.timing();
    if (bucket == 1) {  // one parameter a bucket: all but the first layer's are queued during backward
      CHECK(t.buckets == int(p.size()));
      CHECK(t.queued_during_backward >= int(p.size()) - 1);
      auto order = red.bucket_params();
      CHECK(order.front().front() == p.size() - 1);  // the last parameter's bucket goes first
    }
  }
  // without overlap nothing is queued during backward, and the result is the same
  auto model = mlp(1, DType::F64);
  dist::ReducerOptions ro;
  ro.bucket_bytes = 1;
  ro.overlap = false;
  dist::GradReducer red(W(), model->parameters(), ro);
  const dist::BatchSplit s = dist::split_batch(n, W().rank(), W().size());
  red.backward(ag::mean(ag::square((*model)(ag::Var(my_rows(x))) - ag::Var(my_rows(y)))), s.share());
  CHECK(red.timing().queued_during_backward == 0);
  CHECK(max_abs_diff(model->parameters()[0].grad(), ref->parameters()[0].grad()) < 1e-12);
}

TEST_CASE("ActNorm's data-dependent init inside a ShardedStep uses the statistics of the global batch") {
  const int64_t n = 6;
  Tensor z = global_batch({n, 3, 4, 4}, 8) * 2.0 + 1.0;
  flows::ActNorm whole(3), sharded(3);
  whole.initialize_from(z);
  {
    dist::ShardedStep step(W(), n);
    sharded.initialize_from(my_rows(z));
  }
  CHECK(max_abs_diff(sharded.loc.value(), whole.loc.value()) < 1e-12);
  CHECK(max_abs_diff(sharded.logs.value(), whole.logs.value()) < 1e-12);
}

TEST_CASE("OT-CFM inside a ShardedStep pairs the global batch: each rank gets its rows of one process's pairs") {
  const int64_t n = 8;
  Tensor x0 = global_batch({n, 2}, 30), x1 = global_batch({n, 2}, 31) + 3.0, t = rand({n}, DType::F64);
  W().broadcast(t, 0, "t");
  flows::PathSample whole = flows::sample_path(flows::Matcher::OTCFM, x0, x1, t, zeros_like(x1), 0.0);
  flows::PathSample mine;
  {
    dist::ShardedStep step(W(), n);
    mine = flows::sample_path(flows::Matcher::OTCFM, my_rows(x0), my_rows(x1), my_rows(t), zeros_like(my_rows(x1)), 0.0);
  }
  CHECK(mine.ut.to_vector<double>() == my_rows(whole.ut).to_vector<double>());
  CHECK(mine.xt.to_vector<double>() == my_rows(whole.xt).to_vector<double>());
}
