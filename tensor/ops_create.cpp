// Creation ops: constants, ranges, seeded random tensors, casts.
#include <cmath>

#include "tensor/geometry.h"
#include "tensor/ops_check.h"

namespace fg {

Tensor full(const Shape& s, double v, DType t, Device d) {
  Tensor out = Tensor::empty(s, t, d);
  launch(d).fill(out, v);
  return out;
}
Tensor zeros(const Shape& s, DType t, Device d) { return full(s, 0.0, t, d); }
Tensor ones(const Shape& s, DType t, Device d) { return full(s, 1.0, t, d); }
Tensor scalar(double v, DType t, Device d) { return full({}, v, t, d); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype(), x.device()); }
Tensor full_like(const Tensor& x, double v) { return full(x.shape(), v, x.dtype(), x.device()); }

Tensor arange(double start, double end, double step, DType t, Device d) {
  FG_CHECK(step != 0, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return from_vector(v, {n}).to(t).to(d);
}

Tensor linspace(double start, double end, int64_t n, DType t, Device d) {
  FG_CHECK(n >= 1, "linspace: need at least one point, got {}", n);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = n == 1 ? start : start + (end - start) * i / static_cast<double>(n - 1);
  return from_vector(v, {n}).to(t).to(d);
}

namespace {
thread_local const BatchShard* t_shard = nullptr;

// A draw of shape s: fill(out, counter) writes out's elements from Philox counter `counter`,
// per_counter elements a counter; reserve(n) is the counters a draw of n elements takes from the
// generator. Under a BatchShard a batch-shaped draw is its rows of the global draw: the elements
// from the shard's first one, starting at the counter that holds it (tensor/random.h).
template <class Fill>
Tensor draw(const Shape& s, DType t, Device d, Generator& gen, int64_t per_counter, uint64_t (*reserve)(int64_t),
            Fill&& fill) {
  const BatchShard* b = t_shard;
  if (!b || s.empty() || s[0] != b->rows || b->rows == b->global || b->rows <= 0) {
    Tensor out = Tensor::empty(s, t, d);
    fill(out, gen.advance(reserve(numel(s))));
    return out;
  }
  const int64_t row = numel(s) / s[0];
  Shape whole = s;
  whole[0] = b->global;
  const uint64_t base = gen.advance(reserve(numel(whole)));
  const int64_t first = b->first * row, skip = first % per_counter;
  Tensor flat = Tensor::empty({skip + numel(s)}, t, d);
  fill(flat, base + static_cast<uint64_t>(first / per_counter));
  return skip == 0 ? flat.reshape(s) : slice(flat, 0, skip, skip + numel(s)).contiguous().reshape(s);
}

uint64_t blocks_f32(int64_t n) { return static_cast<uint64_t>((n + 3) / 4) + 1; }
uint64_t blocks_f64(int64_t n) { return 2 * blocks_f32(n); }
}  // namespace

const BatchShard* current_batch_shard() { return t_shard; }
BatchShardScope::BatchShardScope(const BatchShard& s) : shard_(s), prev_(t_shard) {
  FG_CHECK(s.rows >= 0 && s.first >= 0 && s.first + s.rows <= s.global,
           "BatchShardScope: rows [{}, {}) are not within a batch of {}", s.first, s.first + s.rows, s.global);
  t_shard = &shard_;
}
BatchShardScope::~BatchShardScope() { t_shard = prev_; }
WholeDraw::WholeDraw() : prev_(t_shard) { t_shard = nullptr; }
WholeDraw::~WholeDraw() { t_shard = prev_; }

Tensor uniform(const Shape& s, double lo, double hi, DType t, Device d, Generator* g) {
  FG_CHECK(is_floating(t), "uniform: dtype {} is not floating", dtype_name(t));
  Generator& gen = g ? *g : default_generator();
  return draw(s, t, d, gen, t == DType::F64 ? 2 : 4, t == DType::F64 ? blocks_f64 : blocks_f32,
              [&](Tensor& out, uint64_t counter) { launch(d).random_uniform(out, lo, hi, gen.seed(), counter); });
}
Tensor rand(const Shape& s, DType t, Device d, Generator* g) { return uniform(s, 0.0, 1.0, t, d, g); }

Tensor normal(const Shape& s, double mean, double std, DType t, Device d, Generator* g) {
  FG_CHECK(is_floating(t), "normal: dtype {} is not floating", dtype_name(t));
  Generator& gen = g ? *g : default_generator();
  return draw(s, t, d, gen, 4, blocks_f32,
              [&](Tensor& out, uint64_t counter) { launch(d).random_normal(out, mean, std, gen.seed(), counter); });
}
Tensor randn(const Shape& s, DType t, Device d, Generator* g) { return normal(s, 0.0, 1.0, t, d, g); }

Tensor cast(const Tensor& x, DType t) {
  detail::check_defined("cast", x);
  Tensor out = Tensor::empty(x.shape(), t, x.device());
  launch(x.device()).cast(elementwise_params("cast", out, {&x}), x, out);
  return out;
}

}  // namespace fg
