// Element i of a uniform [lo, hi) stream, one definition for the CPU and CUDA backends so that
// the same seed gives the same bits on both (tensor/cpu/random.cpp, tensor/cuda/random.cu).
#pragma once
#include "tensor/random.h"

namespace fg {

// f32 uses one 32-bit word per element (4 per counter), f64 two. The scaling is done in double
// without a fused multiply-add: nvcc would contract it, the host build (ISO C++) does not.
template <class T>
FG_HOST_DEVICE inline T uniform_at(int64_t i, double lo, double hi, uint64_t seed, uint64_t offset) {
  double u;
  if constexpr (sizeof(T) == 4) {
    Philox4 r = philox(seed, offset + static_cast<uint64_t>(i / 4));
    u = u01_f32(r.v[i % 4]);
  } else {
    Philox4 r = philox(seed, offset + static_cast<uint64_t>(i / 2));
    u = u01_f64(r.v[2 * (i % 2)], r.v[2 * (i % 2) + 1]);
  }
#ifdef __CUDA_ARCH__
  const T v = static_cast<T>(__dadd_rn(lo, __dmul_rn(hi - lo, u)));
#else
  const T v = static_cast<T>(lo + (hi - lo) * u);
#endif
  return v < static_cast<T>(hi) ? v : static_cast<T>(lo);  // keep [lo, hi) after rounding
}

}  // namespace fg
