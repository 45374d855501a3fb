// Counter-based random numbers (Philox4x32-10): a (seed, counter) pair gives four 32-bit words, so
// any backend can draw exactly the same stream, in any order and in parallel. A Generator hands out
// disjoint counter ranges; its (seed, offset) state is all that a checkpoint needs to save.
#pragma once
#include <cstdint>

#include "flowgrad/detail/params.h"  // FG_HOST_DEVICE

namespace fg {

struct Philox4 {
  uint32_t v[4];
};

FG_HOST_DEVICE inline Philox4 philox(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// uniform in [0, 1): 24 bits for float, 53 bits (two words) for double
FG_HOST_DEVICE inline float u01_f32(uint32_t a) { return static_cast<float>(a >> 8) * (1.0f / 16777216.0f); }
FG_HOST_DEVICE inline double u01_f64(uint32_t a, uint32_t b) {
  uint64_t x = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  return static_cast<double>(x & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `blocks` Philox counters and returns the first.
  uint64_t advance(uint64_t blocks) {
    uint64_t o = offset_;
    offset_ += blocks;
    return o;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

// Draws keyed by the global sample index, for data-parallel training (dist/): while a BatchShard
// is set on this thread, a draw whose leading dimension is `rows` (a batch-shaped draw: noise
// per example, t per example, probes) gives rows [first, first + rows) of the draw a single
// process would make with `global` rows, and the generator advances as that draw would. So K
// processes, each drawing for its rows of a global batch, draw the same numbers as one process
// with the whole batch, and every generator stays in step with the others. Other draws (a
// Russian-roulette length, an orthogonal init) are taken whole, the same on every rank; a draw
// that is not per example but happens to have `rows` rows asks for that with WholeDraw.
struct BatchShard {
  int64_t first = 0, rows = 0, global = 0;
};
const BatchShard* current_batch_shard();  // null outside a BatchShardScope (or inside WholeDraw)

class BatchShardScope {
 public:
  explicit BatchShardScope(const BatchShard& s);
  ~BatchShardScope();
  BatchShardScope(const BatchShardScope&) = delete;
  BatchShardScope& operator=(const BatchShardScope&) = delete;

 private:
  BatchShard shard_;
  const BatchShard* prev_;
};

// Within its scope every draw is whole (no BatchShard applies).
class WholeDraw {
 public:
  WholeDraw();
  ~WholeDraw();
  WholeDraw(const WholeDraw&) = delete;
  WholeDraw& operator=(const WholeDraw&) = delete;

 private:
  const BatchShard* prev_;
};

}  // namespace fg
