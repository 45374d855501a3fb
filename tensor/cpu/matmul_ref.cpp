// Reference batched matmul: C[b] = op(A[b]) * op(B[b]), all row-major.
// A[b] starts at a + b * a_batch_stride and is MxK (KxM when trans_a); B[b] starts at
// b + b * b_batch_stride and is KxN (NxK when trans_b); a batch stride of 0 broadcasts that operand.
// C is dense [batch, M, N] and is overwritten. Sums over K accumulate in double for float and double.
// Parallel over the batch*M output rows (each thread owns whole rows of C: no races).
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu::ref {

template <class T>
void matmul(const T* a, const T* b, T* c, const MatmulParams& p) {
  const int64_t M = p.M, N = p.N, K = p.K, rows = p.batch * M;
  if (rows <= 0 || N <= 0) return;
  const bool big = rows * N * std::max<int64_t>(K, 1) > (int64_t{1} << 15);
#pragma omp parallel if (big)
  {
    std::vector<T> arow(static_cast<size_t>(K));
    std::vector<double> acc(static_cast<size_t>(N));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t bi = r / M, i = r % M;
      const T* A = a + bi * p.a_batch_stride;
      const T* B = b + bi * p.b_batch_stride;
      T* C = c + r * N;
      // row i of op(A), gathered contiguously
      if (p.trans_a) {
        for (int64_t k = 0; k < K; ++k) arow[k] = A[k * M + i];
      } else {
        std::copy(A + i * K, A + (i + 1) * K, arow.begin());
      }
      if (p.trans_b) {
        // B is NxK: C[i, j] = dot(row i of op(A), row j of B)
        for (int64_t j = 0; j < N; ++j) {
          const T* Bj = B + j * K;
          double s = 0;
#pragma omp simd reduction(+ : s)
          for (int64_t k = 0; k < K; ++k) s += static_cast<double>(arow[k]) * static_cast<double>(Bj[k]);
          C[j] = static_cast<T>(s);
        }
      } else {
        // B is KxN: C[i, :] = sum_k A[i, k] * B[k, :]
        std::fill(acc.begin(), acc.end(), 0.0);
        double* ac = acc.data();
        for (int64_t k = 0; k < K; ++k) {
          const double av = static_cast<double>(arow[k]);
          const T* Bk = B + k * N;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) ac[j] += av * static_cast<double>(Bk[j]);
        }
        for (int64_t j = 0; j < N; ++j) C[j] = static_cast<T>(ac[j]);
      }
    }
  }
}

template void matmul<float>(const float*, const float*, float*, const MatmulParams&);
template void matmul<double>(const double*, const double*, double*, const MatmulParams&);

}  // namespace fg::cpu::ref
