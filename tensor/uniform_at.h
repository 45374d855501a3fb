// Element i of a uniform [lo, hi) stream, one definition for the CPU and CUDA backends so that
// the same seed gives the same bits on both (tensor/cpu/random.cpp, tensor/cuda/random.cu).
#pragma once
#include "flowgrad/tensor/random.h"

namespace fg {

// f32 uses one 32-bit word per element (4 per counter), f64 two. The scaling is done in double
// without a fused multiply-add: nvcc would contract it, the host build (ISO C++) does not.

// uniform_at's value for element `lane` (0-3 for f32, 0-1 for f64) of a counter's words r
template <class T>
FG_HOST_DEVICE inline T uniform_of(const Philox4& r, int lane, double lo, double hi) {
  double u;
  if constexpr (sizeof(T) == 4) u = u01_f32(r.v[lane]);
  else u = u01_f64(r.v[2 * lane], r.v[2 * lane + 1]);
#ifdef __CUDA_ARCH__
  const T v = static_cast<T>(__dadd_rn(lo, __dmul_rn(hi - lo, u)));
#else
  const T v = static_cast<T>(lo + (hi - lo) * u);
#endif
  return v < static_cast<T>(hi) ? v : static_cast<T>(lo);  // keep [lo, hi) after rounding
}

// elements per Philox counter: 4 for f32, 2 for f64
template <class T>
FG_HOST_DEVICE constexpr int64_t uniforms_per_counter() {
  return sizeof(T) == 4 ? 4 : 2;
}

template <class T>
FG_HOST_DEVICE inline T uniform_at(int64_t i, double lo, double hi, uint64_t seed, uint64_t offset) {
  constexpr int64_t k = uniforms_per_counter<T>();
  return uniform_of<T>(philox(seed, offset + static_cast<uint64_t>(i / k)), static_cast<int>(i % k), lo, hi);
}

}  // namespace fg
