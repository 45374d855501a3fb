// CUDA batched matmul on cuBLAS (the CPU's tensor/cpu/onednn_matmul.cpp): row-major matrices of
// flowgrad/detail/params.h, strided batches with a zero stride for a broadcast operand. Math: cuBLAS's
// default (no TF32) unless allow_tf32().
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"

namespace fg::cuda {

void CudaBackend::matmul(const MatmulParams& p, const Tensor& a, const Tensor& b, Tensor& c) {
  FG_CHECK(is_floating(a.dtype()), "matmul: dtype {} is not supported (f32 and f64 are)", dtype_name(a.dtype()));
  activate();
  FG_CUBLAS(cublasSetMathMode(cublas_, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands and pass
  // each row-major matrix as its column-major transpose.
  const int m = static_cast<int>(p.N), n = static_cast<int>(p.M), k = static_cast<int>(p.K);
  const cublasOperation_t opb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, opa = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = static_cast<int>(p.trans_b ? p.K : p.N), lda = static_cast<int>(p.trans_a ? p.M : p.K);
  const int ldc = static_cast<int>(p.N);
  const long long sb = p.b_batch_stride, sa = p.a_batch_stride, sc = p.M * p.N;
  const int batch = static_cast<int>(p.batch);
  if (a.dtype() == DType::F64) {
    const double one = 1, zero = 0;
    FG_CUBLAS(cublasDgemmStridedBatched(cublas_, opb, opa, m, n, k, &one, static_cast<const double*>(b.raw()), ldb, sb,
                                        static_cast<const double*>(a.raw()), lda, sa, &zero,
                                        static_cast<double*>(c.raw()), ldc, sc, batch));
  } else {
    const float one = 1, zero = 0;
    FG_CUBLAS(cublasSgemmStridedBatched(cublas_, opb, opa, m, n, k, &one, static_cast<const float*>(b.raw()), ldb, sb,
                                        static_cast<const float*>(a.raw()), lda, sa, &zero,
                                        static_cast<float*>(c.raw()), ldc, sc, batch));
  }
}

}  // namespace fg::cuda
