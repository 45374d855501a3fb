// CUDA 2-D convolution on cuDNN 9's legacy convolution API (the CPU's tensor/cpu/onednn_conv.cpp):
// forward with bias and a fused ReLU, backward data, backward filter with the bias gradient.
// NCHW / OIHW. Descriptors and the chosen algorithms are built once per params key
// (tensor/plan_cache.h); algorithms come from cuDNN's heuristics (the _v7 queries), the first that
// runs without error in the workspace we allow. Math: FMA only (no TF32) unless allow_tf32(), so
// f32 results match the CPU's to rounding.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/geometry.h"

namespace fg::cuda {

namespace {
constexpr size_t kMaxWorkspace = size_t{1} << 30;  // per call; algorithms asking more are skipped
cudnnDataType_t cudnn_type(DType t) { return t == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }
}  // namespace


struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_data = false, have_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t data{};
  cudnnConvolutionBwdFilterAlgo_t filter{};
  size_t fwd_ws = 0, data_ws = 0, filter_ws = 0;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

namespace {

// The first algorithm of cuDNN's ranked list that reports success and fits the workspace limit,
// preferring deterministic ones (no atomics: the same inputs give the same bits, so a resumed run
// repeats the uninterrupted one exactly); a non-deterministic one only when no other exists.
template <class Perf>
bool pick(const Perf* perf, int count, decltype(Perf::algo)& algo, size_t& ws) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < count; ++i) {
      const Perf& q = perf[i];
      if (q.status != CUDNN_STATUS_SUCCESS || q.memory > kMaxWorkspace) continue;
      if (pass == 0 && q.determinism != CUDNN_DETERMINISTIC) continue;
      algo = q.algo;
      ws = q.memory;
      return true;
    }
  return false;
}

// y += bias (per channel) with descriptors of its own: for an empty input, where cuDNN takes no
// convolution descriptors (zero dimensions) and so no plan exists
void add_bias_alone(cudnnHandle_t h, const Conv2dParams& p, DType t, const void* bias, void* y) {
  const cudnnDataType_t dt = t == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  cudnnTensorDescriptor_t yd = nullptr, bd = nullptr;
  FG_CUDNN(cudnnCreateTensorDescriptor(&yd));
  FG_CUDNN(cudnnCreateTensorDescriptor(&bd));
  cudnnStatus_t st = cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, dt, int(p.N), int(p.O), int(p.OH), int(p.OW));
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnSetTensor4dDescriptor(bd, CUDNN_TENSOR_NCHW, dt, 1, int(p.O), 1, 1);
  const double one64 = 1.0;
  const float one32 = 1.0f;
  const void* one = t == DType::F64 ? static_cast<const void*>(&one64) : static_cast<const void*>(&one32);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnAddTensor(h, one, bd, bias, one, yd, y);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(bd);
  FG_CUDNN(st);
}

}  // namespace

std::shared_ptr<ConvPlan> CudaBackend::conv_plan(const Conv2dParams& p, DType t) {
  const bool tf32 = allow_tf32();
  auto plan = conv_plans_.get(plan_key(p, (t == DType::F64 ? 2 : 0) + (tf32 ? 1 : 0)), [&] {
    auto c = std::make_shared<ConvPlan>();
    const cudnnDataType_t dt = cudnn_type(t);
    const int N = static_cast<int>(p.N), C = static_cast<int>(p.C), H = static_cast<int>(p.H),
              W = static_cast<int>(p.W), O = static_cast<int>(p.O);
    FG_CUDNN(cudnnCreateTensorDescriptor(&c->x));
    FG_CUDNN(cudnnSetTensor4dDescriptor(c->x, CUDNN_TENSOR_NCHW, dt, N, C, H, W));
    FG_CUDNN(cudnnCreateTensorDescriptor(&c->y));
    FG_CUDNN(cudnnSetTensor4dDescriptor(c->y, CUDNN_TENSOR_NCHW, dt, N, O, static_cast<int>(p.OH),
                                        static_cast<int>(p.OW)));
    FG_CUDNN(cudnnCreateTensorDescriptor(&c->bias));
    FG_CUDNN(cudnnSetTensor4dDescriptor(c->bias, CUDNN_TENSOR_NCHW, dt, 1, O, 1, 1));
    FG_CUDNN(cudnnCreateFilterDescriptor(&c->w));
    FG_CUDNN(cudnnSetFilter4dDescriptor(c->w, dt, CUDNN_TENSOR_NCHW, O, static_cast<int>(C / p.groups),
                                        static_cast<int>(p.KH), static_cast<int>(p.KW)));
    FG_CUDNN(cudnnCreateConvolutionDescriptor(&c->conv));
    FG_CUDNN(cudnnSetConvolution2dDescriptor(c->conv, static_cast<int>(p.pad_h), static_cast<int>(p.pad_w),
                                             static_cast<int>(p.stride_h), static_cast<int>(p.stride_w),
                                             static_cast<int>(p.dil_h), static_cast<int>(p.dil_w),
                                             CUDNN_CROSS_CORRELATION, dt));
    FG_CUDNN(cudnnSetConvolutionGroupCount(c->conv, static_cast<int>(p.groups)));
    FG_CUDNN(cudnnSetConvolutionMathType(c->conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));

    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, c->x, c->w, c->conv, c->y,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fp));
    c->have_fwd = pick(fp, n, c->fwd, c->fwd_ws);
    cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_, c->w, c->y, c->conv, c->x,
                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, dp));
    c->have_data = pick(dp, n, c->data, c->data_ws);
    cudnnConvolutionBwdFilterAlgoPerf_t bp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn_, c->x, c->y, c->conv, c->w,
                                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, bp));
    c->have_filter = pick(bp, n, c->filter, c->filter_ws);
    return c;
  });
  FG_CHECK(plan, "conv2d on cuda: cuDNN rejected the case (N={} C={} {}x{} O={} kernel {}x{} groups {})", p.N, p.C,
           p.H, p.W, p.O, p.KH, p.KW, p.groups);
  return plan;
}

namespace {
// alpha/beta scalars: double for f64 tensors, float otherwise (cuDNN's rule)
struct Scalars {
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  bool f64;
  const void* one() const { return f64 ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return f64 ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};
}  // namespace

void CudaBackend::conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias,
                                 Tensor& y) {
  FG_CHECK(p.src_block == 0 && p.dst_block == 0, "conv2d on cuda: channel-blocked layouts are CPU-only");
  FG_CHECK(is_floating(x.dtype()), "conv2d: dtype {} is not supported", dtype_name(x.dtype()));
  activate();
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {  // an empty sum: the bias alone
    fill(y, 0.0);
    if (bias) add_bias_alone(cudnn_, p, y.dtype(), bias->raw(), y.raw());
    if (p.relu) unary(UnaryOp::Relu, {}, elementwise_params("conv2d relu", y, {&y}), y, y);
    return;
  }
  auto c = conv_plan(p, x.dtype());
  FG_CHECK(c->have_fwd, "conv2d on cuda: no cuDNN forward algorithm for this case");
  const Scalars s{.f64 = x.dtype() == DType::F64};
  void* ws = workspace(c->fwd_ws);
  FG_CUDNN(cudnnConvolutionForward(cudnn_, s.one(), c->x, x.raw(), c->w, w.raw(), c->conv, c->fwd, ws, c->fwd_ws,
                                   s.zero(), c->y, y.raw()));
  if (bias) FG_CUDNN(cudnnAddTensor(cudnn_, s.one(), c->bias, bias->raw(), s.one(), c->y, y.raw()));
  if (p.relu) unary(UnaryOp::Relu, {}, elementwise_params("conv2d relu", y, {&y}), y, y);
}

void CudaBackend::conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  FG_CHECK(p.src_block == 0 && p.dst_block == 0, "conv2d on cuda: channel-blocked layouts are CPU-only");
  FG_CHECK(is_floating(dy.dtype()), "conv2d_backward_data: dtype {} is not supported", dtype_name(dy.dtype()));
  activate();
  if (dx.numel() == 0) return;
  if (dy.numel() == 0 || w.numel() == 0) return fill(dx, 0.0);
  auto c = conv_plan(p, dy.dtype());
  FG_CHECK(c->have_data, "conv2d on cuda: no cuDNN backward-data algorithm for this case");
  const Scalars s{.f64 = dy.dtype() == DType::F64};
  void* ws = workspace(c->data_ws);
  FG_CUDNN(cudnnConvolutionBackwardData(cudnn_, s.one(), c->w, w.raw(), c->y, dy.raw(), c->conv, c->data, ws,
                                        c->data_ws, s.zero(), c->x, dx.raw()));
}

void CudaBackend::conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                          Tensor* dbias) {
  FG_CHECK(p.src_block == 0 && p.dst_block == 0, "conv2d on cuda: channel-blocked layouts are CPU-only");
  FG_CHECK(is_floating(x.dtype()), "conv2d_backward_weights: dtype {} is not supported", dtype_name(x.dtype()));
  activate();
  if (dy.numel() == 0 || x.numel() == 0) {  // nothing flowed back: zero gradients
    fill(dw, 0.0);
    if (dbias) fill(*dbias, 0.0);
    return;
  }
  auto c = conv_plan(p, x.dtype());
  FG_CHECK(c->have_filter, "conv2d on cuda: no cuDNN backward-filter algorithm for this case");
  const Scalars s{.f64 = x.dtype() == DType::F64};
  void* ws = workspace(c->filter_ws);
  FG_CUDNN(cudnnConvolutionBackwardFilter(cudnn_, s.one(), c->x, x.raw(), c->y, dy.raw(), c->conv, c->filter, ws,
                                          c->filter_ws, s.zero(), c->w, dw.raw()));
  if (dbias)
    FG_CUDNN(cudnnConvolutionBackwardBias(cudnn_, s.one(), c->y, dy.raw(), s.zero(), c->bias, dbias->raw()));
}

}  // namespace fg::cuda
