// CUDA kernels for one small n x n matrix (a 1x1 convolution's weight): Doolittle LU with partial
// pivoting in double, as tensor/linalg.cpp's lu_inplace (same pivot choice), run by one block:
// the pivot search and row swap per column, then the trailing update spread over the threads.
// slogdet reads the diagonal; inverse solves for the n columns of P in parallel, one per thread.
// A singular matrix gives logabsdet -inf and sign 0 (as on the CPU), and an inverse of NaNs plus a
// device flag that the backend reads at the next host read, then throwing as the CPU's inverse
// does at the call (cuda_backend.h; with FG_CUDA_SYNC=1, at the call too).
#include <cmath>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/device.cuh"
#include "tensor/dispatch.h"

namespace fg::cuda {

namespace {

constexpr int kLinalgThreads = 256;

struct LuState {
  int sign;
  int singular;
  int piv;
};

// LU of a (n x n, type T) into m (double) with row permutation perm; every thread returns the
// same state.
template <class T>
__device__ LuState lu_block(const T* a, int64_t n, double* m, int* perm) {
  __shared__ LuState st;
  for (int64_t i = threadIdx.x; i < n * n; i += blockDim.x) m[i] = static_cast<double>(a[i]);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) perm[i] = static_cast<int>(i);
  if (threadIdx.x == 0) st = {1, 0, 0};
  __syncthreads();
  for (int64_t k = 0; k < n; ++k) {
    if (threadIdx.x == 0) {
      int64_t piv = k;
      for (int64_t i = k + 1; i < n; ++i)
        if (fabs(m[i * n + k]) > fabs(m[piv * n + k])) piv = i;
      st.piv = static_cast<int>(piv);
      if (piv != k) {
        int t = perm[k];
        perm[k] = perm[piv];
        perm[piv] = t;
        st.sign = -st.sign;
      }
    }
    __syncthreads();
    const int64_t piv = st.piv;
    if (piv != k)
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        double t = m[k * n + j];
        m[k * n + j] = m[piv * n + j];
        m[piv * n + j] = t;
      }
    __syncthreads();
    const double d = m[k * n + k];
    if (d == 0.0) {
      if (threadIdx.x == 0) st.singular = 1;
      __syncthreads();
      continue;
    }
    for (int64_t i = k + 1 + threadIdx.x; i < n; i += blockDim.x) m[i * n + k] /= d;
    __syncthreads();
    const int64_t rows = n - k - 1, cols = n - k - 1;
    for (int64_t q = threadIdx.x; q < rows * cols; q += blockDim.x) {
      const int64_t i = k + 1 + q / cols, j = k + 1 + q % cols;
      m[i * n + j] -= m[i * n + k] * m[k * n + j];
    }
    __syncthreads();
  }
  return st;
}

template <class T>
__global__ void slogdet_kernel(const T* a, int64_t n, double* m, int* perm, T* logabsdet, T* sign) {
  LuState st = lu_block(a, n, m, perm);
  if (threadIdx.x != 0) return;
  double s = st.sign, l = 0;
  if (st.singular) {
    s = 0;
    l = -INFINITY;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const double d = m[i * n + i];
      if (d < 0) s = -s;
      l += log(fabs(d));
    }
  }
  *logabsdet = static_cast<T>(l);
  *sign = static_cast<T>(s);
}

// column c of the inverse solves L U x = P e_c; col is n x n scratch, one column per thread
template <class T>
__global__ void inverse_kernel(const T* a, int64_t n, double* m, int* perm, double* col, T* out, int* singular) {
  LuState st = lu_block(a, n, m, perm);
  if (st.singular && threadIdx.x == 0) *singular = 1;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    double* x = col + c * n;
    if (st.singular) {
      for (int64_t i = 0; i < n; ++i) out[i * n + c] = static_cast<T>(NAN);
      continue;
    }
    for (int64_t i = 0; i < n; ++i) x[i] = perm[i] == c ? 1.0 : 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) x[i] -= m[i * n + j] * x[j];
    for (int64_t i = n - 1; i >= 0; --i) {
      for (int64_t j = i + 1; j < n; ++j) x[i] -= m[i * n + j] * x[j];
      x[i] /= m[i * n + i];
    }
    for (int64_t i = 0; i < n; ++i) out[i * n + c] = static_cast<T>(x[i]);
  }
}

// bytes of scratch for an n x n matrix: the LU and the inverse's columns (2 n^2 doubles), the permutation
size_t linalg_scratch(int64_t n) {
  return static_cast<size_t>(2 * n * n) * sizeof(double) + static_cast<size_t>(n) * sizeof(int) + 16;
}

}  // namespace

void CudaBackend::slogdet(const Tensor& a, Tensor& logabsdet, Tensor& sign) {
  const int64_t n = a.size(0);
  activate();
  Scratch s(*this, linalg_scratch(n));
  double* m = static_cast<double*>(s.get());
  int* perm = reinterpret_cast<int*>(m + 2 * n * n);
  dispatch_float(a.dtype(), "slogdet", [&](auto z) {
    using T = decltype(z);
    slogdet_kernel<T><<<1, kLinalgThreads, 0, stream_>>>(ptr<T>(a), n, m, perm, ptr<T>(logabsdet), ptr<T>(sign));
  });
  check_launch(stream_, "slogdet");
}

void CudaBackend::inverse(const Tensor& a, Tensor& o) {
  const int64_t n = a.size(0);
  activate();
  Scratch s(*this, linalg_scratch(n));
  double* m = static_cast<double*>(s.get());
  int* perm = reinterpret_cast<int*>(m + 2 * n * n);
  int* singular = singular_flag();
  last_inverse_shape_ = shape_str(a.shape());
  dispatch_float(a.dtype(), "inverse", [&](auto z) {
    using T = decltype(z);
    inverse_kernel<T><<<1, kLinalgThreads, 0, stream_>>>(ptr<T>(a), n, m, perm, m + n * n, ptr<T>(o), singular);
  });
  check_launch(stream_, "inverse");
  if (sync_launches()) report_singular();  // the kernel has run: report at the call, as the CPU does
}

}  // namespace fg::cuda
