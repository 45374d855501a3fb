// CUDA batched matmul on cuBLAS (the CPU's tensor/cpu/onednn_matmul.cpp): row-major matrices of
// flowgrad/detail/params.h, strided batches with a zero stride for a broadcast operand. Math: cuBLAS's
// default (no TF32) unless allow_tf32(). Dimensions are checked to fit cuBLAS's int (dense_dims.h);
// an empty product writes nothing and K = 0 writes zeros, as cuBLAS rejects zero leading dimensions.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/dense_dims.h"
#include "tensor/dispatch.h"

namespace fg::cuda {

void CudaBackend::matmul(const MatmulParams& p, const Tensor& a, const Tensor& b, Tensor& c) {
  dispatch_float(a.dtype(), "matmul", [](auto) {});
  if (p.batch == 0 || p.M == 0 || p.N == 0) return;
  if (p.K == 0) return fill(c, 0.0);
  const GemmDims d = gemm_dims(p);
  activate();
  FG_CUBLAS(cublasSetMathMode(cublas_, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  const cublasOperation_t opb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, opa = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const long long sb = p.b_batch_stride, sa = p.a_batch_stride, sc = p.M * p.N;
  if (a.dtype() == DType::F64) {
    const double one = 1, zero = 0;
    FG_CUBLAS(cublasDgemmStridedBatched(cublas_, opb, opa, d.m, d.n, d.k, &one, ptr<double>(b), d.ldb, sb,
                                        ptr<double>(a), d.lda, sa, &zero, ptr<double>(c), d.ldc, sc, d.batch));
  } else {
    const float one = 1, zero = 0;
    FG_CUBLAS(cublasSgemmStridedBatched(cublas_, opb, opa, d.m, d.n, d.k, &one, ptr<float>(b), d.ldb, sb,
                                        ptr<float>(a), d.lda, sa, &zero, ptr<float>(c), d.ldc, sc, d.batch));
  }
  check_library_kernels(stream_, "matmul (cublas)");
}

}  // namespace fg::cuda
