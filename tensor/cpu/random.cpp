// CPU random fills from the Philox stream: element i uses counter offset + i/4 (uniform f32),
// offset + i/2 (uniform f64), offset + i/4 with Box-Muller pairs (normal), so results do not
// depend on the thread count.
#include <algorithm>
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/pointers.h"
#include "tensor/dispatch.h"
#include "tensor/uniform_at.h"

namespace fg::cpu {

namespace {

// Each Philox counter's words are drawn once for all the elements they give (4 uniform f32s, 2
// f64s, 4 normals), in chunks of kCounterGrain counters: a normal costs a log and a sine, so
// even 50k of them (a batch of 64 latents) are worth both threads. Drawn per element before, a
// counter was computed four times and every log twice: 64 x 784 normals took 1.46 ms, 2 threads.
constexpr int64_t kCounterGrain = 1024;

// f(i0, m, r): the counter's words r for elements [i0, i0 + m) of out
template <int64_t PerCounter, class F>
void for_counters(int64_t n, uint64_t seed, uint64_t offset, F&& f) {
  parallel_for((n + PerCounter - 1) / PerCounter, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t i0 = q * PerCounter;
      f(i0, std::min(PerCounter, n - i0), philox(seed, offset + static_cast<uint64_t>(q)));
    }
  }, kCounterGrain);
}

template <class T>
void uniform_typed(T* out, int64_t n, double lo, double hi, uint64_t seed, uint64_t offset) {
  for_counters<uniforms_per_counter<T>()>(n, seed, offset, [&](int64_t i0, int64_t m, const Philox4& r) {
    for (int64_t l = 0; l < m; ++l) out[i0 + l] = uniform_of<T>(r, static_cast<int>(l), lo, hi);
  });
}

// Box-Muller on each pair of a counter's words: (u1, u2) -> r cos(th), r sin(th)
template <class T>
void normal_typed(T* out, int64_t n, double mean, double std, uint64_t seed, uint64_t offset) {
  for_counters<4>(n, seed, offset, [&](int64_t i0, int64_t m, const Philox4& r) {
    double z[4];
    for (int pair = 0; pair < 2; ++pair) {
      const double u1 = (r.v[2 * pair] + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
      const double u2 = r.v[2 * pair + 1] * (1.0 / 4294967296.0);        // [0, 1)
      const double rad = std::sqrt(-2.0 * std::log(u1));
      const double th = 6.283185307179586 * u2;
      z[2 * pair] = rad * std::cos(th);
      z[2 * pair + 1] = rad * std::sin(th);
    }
    for (int64_t l = 0; l < m; ++l) out[i0 + l] = static_cast<T>(mean + std * z[l]);
  });
}

}  // namespace

void CpuBackend::random_uniform(Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) {
  dispatch_float(out.dtype(), "rand", [&](auto z) {
    using T = decltype(z);
    uniform_typed(dense_out<T>(&out), out.numel(), lo, hi, seed, offset);
  });
}

void CpuBackend::random_normal(Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  dispatch_float(out.dtype(), "randn", [&](auto z) {
    using T = decltype(z);
    normal_typed(dense_out<T>(&out), out.numel(), mean, std, seed, offset);
  });
}

}  // namespace fg::cpu
