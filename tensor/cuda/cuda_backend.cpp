// CUDA backend: device discovery and registration, memory (caching allocator, pinned staging for
// uploads), and the kernels that are ours (tensor/cuda/kernels.h); the cuDNN/cuBLAS ones are in
// dense.cpp.
#include "tensor/cuda/cuda_backend.h"

#include <cstring>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/kernels.h"

namespace fg::cuda {

void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(fmt::format("cuda: kernel {} failed to launch: {}", what, cudaGetErrorString(e)));
}

int device_count(std::string* why) {
  int n = 0;  // cudaGetDeviceCount leaves it unwritten on error
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = fmt::format("no usable GPU ({}: {})", cudaGetErrorName(e), cudaGetErrorString(e));
    (void)cudaGetLastError();
    return 0;
  }
  if (n == 0 && why) *why = "no GPU found (cudaGetDeviceCount returned 0)";
  return n;
}

bool device_available(int index, std::string* why) {
  static std::string reason;
  static const int count = device_count(&reason);
  if (index < count) return true;
  if (why) *why = count == 0 ? reason : fmt::format("cuda:{} does not exist ({} GPU{} present)", index, count,
                                                    count == 1 ? "" : "s");
  return false;
}

Backend* create_backend(int index) { return new CudaBackend(index); }

}  // namespace fg::cuda

// The module's entry points: tensor/backend.cpp looks them up by name after loading
// libflowgrad_cuda.so.
extern "C" bool fg_cuda_device_available(int index, std::string* why) { return fg::cuda::device_available(index, why); }
extern "C" fg::Backend* fg_cuda_create_backend(int index) { return fg::cuda::create_backend(index); }

namespace fg::cuda {

namespace {

void need_float(DType t, const char* op) {
  FG_CHECK(is_floating(t), "{}: dtype {} is not supported (f32 and f64 are)", op, dtype_name(t));
}

const void* in(const Tensor* t) { return t ? t->raw() : nullptr; }
void* out(Tensor* t) { return t ? t->raw() : nullptr; }

}  // namespace

CudaBackend::CudaBackend(int device) : device_(device), alloc_(device) {
  activate();
  FG_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  FG_CUBLAS(cublasCreate(&cublas_));
  FG_CUBLAS(cublasSetStream(cublas_, stream_));
  FG_CUDNN(cudnnCreate(&cudnn_));
  FG_CUDNN(cudnnSetStream(cudnn_, stream_));
  for (Staging& s : staging_) FG_CUDA(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
}

CudaBackend::~CudaBackend() {
  // backends live until exit, when the driver may be gone: nothing here may throw
  cudaStreamSynchronize(stream_);
  for (Staging& s : staging_) {
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  if (workspace_) alloc_.deallocate(workspace_, workspace_bytes_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::activate() const {
  thread_local int current = -1;
  if (current != device_) {
    FG_CUDA(cudaSetDevice(device_));
    current = device_;
  }
}

void* CudaBackend::allocate(size_t bytes) {
  activate();
  return alloc_.allocate(bytes);
}

void CudaBackend::deallocate(void* p, size_t bytes) { alloc_.deallocate(p, bytes); }

void CudaBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  constexpr size_t kMaxStaging = 256u << 20;
  if (bytes > kMaxStaging) {  // pageable copy: the driver waits for the stream first
    FG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    return;
  }
  Staging& s = staging_[next_staging_];
  next_staging_ ^= 1;
  FG_CUDA(cudaEventSynchronize(s.done));  // this slot's previous upload has left the buffer
  if (s.bytes < bytes) {
    if (s.host) FG_CUDA(cudaFreeHost(s.host));
    s.host = nullptr;
    s.bytes = 0;
    size_t n = 1 << 20;
    while (n < bytes) n <<= 1;
    FG_CUDA(cudaMallocHost(&s.host, n));
    s.bytes = n;
  }
  std::memcpy(s.host, src, bytes);
  FG_CUDA(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream_));
  FG_CUDA(cudaEventRecord(s.done, stream_));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  FG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  FG_CUDA(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() {
  activate();
  FG_CUDA(cudaStreamSynchronize(stream_));
}

void* CudaBackend::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_) alloc_.deallocate(workspace_, workspace_bytes_);
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  workspace_ = alloc_.allocate(bytes);
  workspace_bytes_ = bytes;
  return workspace_;
}

// ---- our kernels ----

void CudaBackend::fill(Tensor& o, double value) {
  activate();
  cuda::fill(stream_, o.dtype(), o.raw(), o.numel(), value);
}

void CudaBackend::copy(const ElementwiseParams& e, const Tensor& src, Tensor& dst) {
  activate();
  cuda::copy(stream_, dtype_size(src.dtype()), e, src.raw(), dst.raw());
}

void CudaBackend::cast(const ElementwiseParams& e, const Tensor& x, Tensor& o) {
  activate();
  cuda::cast(stream_, e, x.dtype(), x.raw(), o.dtype(), o.raw());
}

void CudaBackend::unary(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x, Tensor& o) {
  need_float(x.dtype(), unary_name(op));
  activate();
  cuda::unary(stream_, x.dtype(), op, p, e, x.raw(), o.raw());
}

void CudaBackend::unary_backward(UnaryOp op, const UnaryParams& p, const ElementwiseParams& e, const Tensor& x,
                                 const Tensor& y, const Tensor& g, Tensor& dx) {
  need_float(g.dtype(), unary_name(op));
  activate();
  cuda::unary_backward(stream_, g.dtype(), op, p, e, x.raw(), y.raw(), g.raw(), dx.raw());
}

void CudaBackend::binary(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b, Tensor& o) {
  need_float(a.dtype(), binary_name(op));
  activate();
  cuda::binary(stream_, a.dtype(), op, e, a.raw(), b.raw(), o.raw());
}

void CudaBackend::binary_backward(BinaryOp op, const ElementwiseParams& e, const Tensor& a, const Tensor& b,
                                  const Tensor& g, Tensor* da, Tensor* db) {
  need_float(g.dtype(), binary_name(op));
  FG_CHECK(static_cast<int>(op) < kNumDiffBinaryOps, "{}: comparisons have no gradient", binary_name(op));
  activate();
  cuda::binary_backward(stream_, g.dtype(), op, e, a.raw(), b.raw(), g.raw(), out(da), out(db));
}

void CudaBackend::gather_rows(const Tensor& x, const Tensor& index, Tensor& o) {
  FG_CHECK(index.dtype() == DType::I32, "gather_rows: index must be i32, got {}", dtype_name(index.dtype()));
  activate();
  const int64_t rows = x.size(0), row_bytes = static_cast<int64_t>(x.nbytes()) / std::max<int64_t>(rows, 1);
  cuda::gather_rows(stream_, x.raw(), rows, row_bytes, static_cast<const int32_t*>(index.raw()), index.numel(),
                    o.raw());
}

void CudaBackend::where(const ElementwiseParams& e, const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& o) {
  need_float(a.dtype(), "where");
  activate();
  cuda::where(stream_, a.dtype(), cond.dtype(), e, cond.raw(), a.raw(), b.raw(), o.raw());
}

void CudaBackend::concat_elu(const ConcatEluParams& p, const Tensor& x, Tensor& y) {
  need_float(x.dtype(), "concat_elu");
  activate();
  cuda::concat_elu(stream_, x.dtype(), p, x.raw(), y.raw());
}

void CudaBackend::concat_elu_backward(const ConcatEluParams& p, const Tensor& y, const Tensor& g, Tensor& dx) {
  need_float(y.dtype(), "concat_elu_backward");
  activate();
  cuda::concat_elu_backward(stream_, y.dtype(), p, y.raw(), g.raw(), dx.raw());
}

void CudaBackend::tap_sum(const TapSumParams& p, const Tensor& z, Tensor& y) {
  need_float(z.dtype(), "tap_sum");
  FG_CHECK(p.block == 0, "tap_sum on cuda: channel-blocked layouts are CPU-only");
  activate();
  cuda::tap_sum(stream_, z.dtype(), p, z.raw(), y.raw());
}

void CudaBackend::tap_sum_backward(const TapSumParams& p, const Tensor& dy, Tensor& dz) {
  need_float(dy.dtype(), "tap_sum_backward");
  FG_CHECK(p.block == 0, "tap_sum_backward on cuda: channel-blocked layouts are CPU-only");
  activate();
  cuda::tap_sum_backward(stream_, dy.dtype(), p, dy.raw(), dz.raw());
}

void CudaBackend::sigmoid_coupling(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h, Tensor& y,
                                   Tensor& logdet) {
  need_float(z.dtype(), "sigmoid_coupling");
  activate();
  cuda::sigmoid_coupling(stream_, z.dtype(), p, z.raw(), h.raw(), y.raw(), logdet.raw());
}

void CudaBackend::sigmoid_coupling_backward(const SigmoidCouplingParams& p, const Tensor& z, const Tensor& h,
                                            const Tensor& gy, const Tensor& glogdet, Tensor& dz, Tensor& dh) {
  need_float(z.dtype(), "sigmoid_coupling_backward");
  activate();
  cuda::sigmoid_coupling_backward(stream_, z.dtype(), p, z.raw(), h.raw(), gy.raw(), glogdet.raw(), dz.raw(), dh.raw());
}

void CudaBackend::gated_residual(const ConcatEluParams& p, const Tensor& x, const Tensor& h, Tensor& y) {
  need_float(x.dtype(), "gated_residual");
  activate();
  cuda::gated_residual(stream_, x.dtype(), p, x.raw(), h.raw(), y.raw());
}

void CudaBackend::gated_residual_backward(const ConcatEluParams& p, const Tensor& h, const Tensor& g, Tensor& dh) {
  need_float(h.dtype(), "gated_residual_backward");
  activate();
  cuda::gated_residual_backward(stream_, h.dtype(), p, h.raw(), g.raw(), dh.raw());
}

void CudaBackend::reduce(ReduceOp op, const ReduceParams& p, const Tensor& x, Tensor& o) {
  need_float(x.dtype(), "reduce");
  activate();
  cuda::reduce(stream_, x.dtype(), op, p, x.raw(), o.raw());
}

void CudaBackend::layer_norm_forward(const LayerNormParams& p, const Tensor& x, const Tensor* gate,
                                     const Tensor* gamma, const Tensor* beta, Tensor& y, Tensor& mean, Tensor& rstd) {
  need_float(x.dtype(), "layer_norm");
  FG_CHECK(p.block == 0, "layer_norm on cuda: channel-blocked layouts are CPU-only");
  activate();
  Tensor r;  // with a gate: the gated residual first (its own kernel), then the norm of it
  if (gate) {
    r = Tensor::empty(x.shape(), x.dtype(), x.device());
    cuda::gated_residual(stream_, x.dtype(), ConcatEluParams{p.outer, p.C, p.inner}, x.raw(), gate->raw(), r.raw());
  }
  cuda::layer_norm_forward(stream_, x.dtype(), p, gate ? r.raw() : x.raw(), in(gamma), in(beta), y.raw(), mean.raw(),
                           rstd.raw());
}

void CudaBackend::layer_norm_backward(const LayerNormParams& p, const Tensor& dy, const Tensor& x,
                                      const Tensor* gamma, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                                      Tensor* dgamma, Tensor* dbeta) {
  need_float(x.dtype(), "layer_norm_backward");
  FG_CHECK(p.block == 0, "layer_norm on cuda: channel-blocked layouts are CPU-only");
  activate();
  cuda::layer_norm_backward(stream_, x.dtype(), p, dy.raw(), x.raw(), in(gamma), mean.raw(), rstd.raw(), dx.raw(),
                            out(dgamma), out(dbeta));
}

void CudaBackend::slogdet(const Tensor& a, Tensor& logabsdet, Tensor& sign) {
  need_float(a.dtype(), "slogdet");
  activate();
  Scratch s(*this, linalg_scratch(a.size(0)));
  cuda::slogdet(stream_, a.dtype(), a.raw(), a.size(0), s.get(), logabsdet.raw(), sign.raw());
}

void CudaBackend::inverse(const Tensor& a, Tensor& o) {
  need_float(a.dtype(), "inverse");
  activate();
  Scratch s(*this, linalg_scratch(a.size(0)));
  cuda::inverse(stream_, a.dtype(), a.raw(), a.size(0), s.get(), o.raw());
}

void CudaBackend::random_uniform(Tensor& o, double lo, double hi, uint64_t seed, uint64_t offset) {
  need_float(o.dtype(), "rand");
  activate();
  cuda::random_uniform(stream_, o.dtype(), o.raw(), o.numel(), lo, hi, seed, offset);
}

void CudaBackend::random_normal(Tensor& o, double mean, double std, uint64_t seed, uint64_t offset) {
  need_float(o.dtype(), "randn");
  activate();
  cuda::random_normal(stream_, o.dtype(), o.raw(), o.numel(), mean, std, seed, offset);
}

namespace {
// each tensor's dtype (f32 or f64): the launchers group consecutive tensors of one dtype
std::vector<DType> list_dtypes(const char* op, const std::vector<const Tensor*>& xs) {
  std::vector<DType> t;
  for (const Tensor* x : xs) {
    need_float(x->dtype(), op);
    t.push_back(x->dtype());
  }
  return t;
}
}  // namespace

void CudaBackend::sum_of_squares(const std::vector<const Tensor*>& xs, Tensor& o) {
  FG_CHECK(o.dtype() == DType::F64, "sum_of_squares: the result must be f64");
  const std::vector<DType> t = list_dtypes("sum_of_squares", xs);
  activate();
  std::vector<const void*> ptrs;
  std::vector<int64_t> numel;
  for (const Tensor* x : xs) {
    ptrs.push_back(x->raw());
    numel.push_back(x->numel());
  }
  Scratch s(*this, sum_of_squares_scratch(t, numel) * sizeof(double));
  cuda::sum_of_squares(stream_, t, ptrs, numel, static_cast<double*>(s.get()), static_cast<double*>(o.raw()));
}

void CudaBackend::scale_all(const std::vector<const Tensor*>& xs, const Tensor& factor,
                            const std::vector<Tensor*>& outs) {
  const std::vector<DType> t = list_dtypes("scale_all", xs);
  activate();
  std::vector<const void*> ptrs;
  std::vector<void*> optrs;
  std::vector<int64_t> numel;
  for (size_t i = 0; i < xs.size(); ++i) {
    ptrs.push_back(xs[i]->raw());
    optrs.push_back(outs[i]->raw());
    numel.push_back(xs[i]->numel());
  }
  cuda::scale_all(stream_, t, ptrs, numel, factor.raw(), factor.dtype(), optrs);
}

void CudaBackend::adam_step(const AdamParams& p, const AdamTensors& t, Tensor& step, const Tensor* skip) {
  std::vector<const Tensor*> ps(t.params.begin(), t.params.end());
  const std::vector<DType> dt = list_dtypes("adam_step", ps);
  activate();
  std::vector<void*> w, m, v;
  std::vector<const void*> g;
  std::vector<int64_t> numel;
  for (size_t i = 0; i < t.params.size(); ++i) {
    w.push_back(t.params[i]->raw());
    g.push_back(t.grads[i]->raw());
    m.push_back(t.exp_avg[i]->raw());
    v.push_back(t.exp_avg_sq[i]->raw());
    numel.push_back(t.params[i]->numel());
  }
  cuda::adam_step(stream_, dt, p, w, g, m, v, numel, static_cast<double*>(step.raw()), in(skip),
                  skip ? skip->dtype() : DType::F32);
}

}  // namespace fg::cuda
