// Launchers for flowgrad's own CUDA kernels (the .cu files of this folder). They take raw device
// pointers, the plain params structs of flowgrad/detail/params.h and the backend's stream, queue the kernel
// and return without waiting. Nothing here throws on bad data: a kernel cannot report to the host
// without a sync, so each documents what it writes for bad input instead (NaN, zeros).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "flowgrad/tensor/dtype.h"
#include "flowgrad/detail/params.h"

namespace fg::cuda {

// The launch error of the last kernel as an fg::Error naming `what` (cudaGetLastError).
void check_launch(const char* what);

// elementwise.cu
void fill(cudaStream_t s, DType t, void* out, int64_t n, double value);
void copy(cudaStream_t s, size_t elem_bytes, const ElementwiseParams& e, const void* src, void* dst);
void cast(cudaStream_t s, const ElementwiseParams& e, DType in_t, const void* x, DType out_t, void* out);
void unary(cudaStream_t s, DType t, UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const void* x,
           void* out);
// operands of e: dx, g, x, y
void unary_backward(cudaStream_t s, DType t, UnaryOp op, const UnaryParams& p, const ElementwiseParams& e,
                    const void* x, const void* y, const void* g, void* dx);
void binary(cudaStream_t s, DType t, BinaryOp op, const ElementwiseParams& e, const void* a, const void* b, void* out);
// operands of e: da, db, g, a, b; da or db may be null (not wanted)
void binary_backward(cudaStream_t s, DType t, BinaryOp op, const ElementwiseParams& e, const void* a, const void* b,
                     const void* g, void* da, void* db);
void where(cudaStream_t s, DType t, DType cond_t, const ElementwiseParams& e, const void* cond, const void* a,
           const void* b, void* out);
// out[i] = x[index[i]] row by row; an index outside [0, rows) gives a row of zero bytes.
void gather_rows(cudaStream_t s, const void* x, int64_t rows, int64_t row_bytes, const int32_t* index, int64_t n,
                 void* out);

// reduce.cu: out (contiguous, p.outputs() elements) from strided x; sums accumulate in double.
void reduce(cudaStream_t s, DType t, ReduceOp op, const ReduceParams& p, const void* x, void* out);

// norm.cu: layer norm over C of [outer, C, inner] (sums in double), the fused ConcatELU pair and the
// gated residual.
void layer_norm_forward(cudaStream_t s, DType t, const LayerNormParams& p, const void* x, const void* gamma,
                        const void* beta, void* y, void* mean, void* rstd);
void layer_norm_backward(cudaStream_t s, DType t, const LayerNormParams& p, const void* dy, const void* x,
                         const void* gamma, const void* mean, const void* rstd, void* dx, void* dgamma, void* dbeta);
void concat_elu(cudaStream_t s, DType t, const ConcatEluParams& p, const void* x, void* y);
void concat_elu_backward(cudaStream_t s, DType t, const ConcatEluParams& p, const void* y, const void* g, void* dx);
void gated_residual(cudaStream_t s, DType t, const ConcatEluParams& p, const void* x, const void* h, void* y);
void gated_residual_backward(cudaStream_t s, DType t, const ConcatEluParams& p, const void* h, const void* g,
                             void* dh);
// tap_sum.cu
void tap_sum(cudaStream_t s, DType t, const TapSumParams& p, const void* z, void* y);
void tap_sum_backward(cudaStream_t s, DType t, const TapSumParams& p, const void* dy, void* dz);
// coupling.cu: glow's sigmoid-scaled affine coupling (logdet summed in double, one block per sample)
void sigmoid_coupling(cudaStream_t s, DType t, const SigmoidCouplingParams& p, const void* z, const void* h, void* y,
                      void* logdet);
void sigmoid_coupling_backward(cudaStream_t s, DType t, const SigmoidCouplingParams& p, const void* z, const void* h,
                               const void* gy, const void* gl, void* dz, void* dh);

// random.cu: the Philox streams of flowgrad/tensor/random.h, element for element as on the CPU.
void random_uniform(cudaStream_t s, DType t, void* out, int64_t n, double lo, double hi, uint64_t seed,
                    uint64_t offset);
void random_normal(cudaStream_t s, DType t, void* out, int64_t n, double mean, double std, uint64_t seed,
                   uint64_t offset);

// optim.cu: multi-tensor kernels; every list holds tensors of dtype t. The lists travel in the
// kernels' arguments (no upload, no sync), a fixed number of tensors per launch.
// sum_of_squares needs a scratch of sum_of_squares_scratch(types, numel) doubles. The
// lists take each tensor's dtype; consecutive tensors of one dtype share a launch.
size_t sum_of_squares_scratch(const std::vector<DType>& types, const std::vector<int64_t>& numel);
void sum_of_squares(cudaStream_t s, const std::vector<DType>& types, const std::vector<const void*>& xs, const std::vector<int64_t>& numel,
                    double* scratch, double* out);
void scale_all(cudaStream_t s, const std::vector<DType>& types, const std::vector<const void*>& xs, const std::vector<int64_t>& numel,
               const void* factor, DType factor_t, const std::vector<void*>& out);
// step: one f64 (the count before this step, incremented by the last launch); skip: one element of
// skip_t, or null.
void adam_step(cudaStream_t s, const std::vector<DType>& types, const AdamParams& p, const std::vector<void*>& params,
               const std::vector<const void*>& grads, const std::vector<void*>& exp_avg,
               const std::vector<void*>& exp_avg_sq, const std::vector<int64_t>& numel, double* step,
               const void* skip, DType skip_t);

// linalg.cu: one n x n matrix in a single block, LU with partial pivoting in double. A singular
// matrix gives logabsdet -inf and sign 0, and an inverse of NaNs. scratch: linalg_scratch(n) bytes.
size_t linalg_scratch(int64_t n);
void slogdet(cudaStream_t s, DType t, const void* a, int64_t n, void* scratch, void* logabsdet, void* sign);
void inverse(cudaStream_t s, DType t, const void* a, int64_t n, void* scratch, void* out);

}  // namespace fg::cuda
