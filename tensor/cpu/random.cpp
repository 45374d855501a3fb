// CPU random fills from the Philox stream: element i uses counter offset + i/4 (uniform f32),
// offset + i/2 (uniform f64), offset + i/4 with Box-Muller pairs (normal), so results do not
// depend on the thread count.
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dispatch.h"
#include "tensor/cpu/parallel.h"
#include "tensor/uniform_at.h"

namespace fg::cpu {

namespace {

template <class T>
void uniform_typed(T* out, int64_t n, double lo, double hi, uint64_t seed, uint64_t offset) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = uniform_at<T>(i, lo, hi, seed, offset);
  });
}

template <class T>
void normal_typed(T* out, int64_t n, double mean, double std, uint64_t seed, uint64_t offset) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      Philox4 r = philox(seed, offset + static_cast<uint64_t>(i / 4));
      int lane = static_cast<int>(i % 4), pair = lane / 2;
      double u1 = (r.v[2 * pair] + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
      double u2 = r.v[2 * pair + 1] * (1.0 / 4294967296.0);        // [0, 1)
      double rad = std::sqrt(-2.0 * std::log(u1));
      double th = 6.283185307179586 * u2;
      double z = (lane % 2 == 0) ? rad * std::cos(th) : rad * std::sin(th);
      out[i] = static_cast<T>(mean + std * z);
    }
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
