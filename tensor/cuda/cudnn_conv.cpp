// CUDA 2-D convolution on cuDNN 9's legacy API (the CPU's tensor/cpu/onednn_conv.cpp): forward
// with bias and a fused ReLU, backward data, backward filter with the bias gradient. NCHW / OIHW,
// no channel blocks (conv_channel_block() is 0 here). A plan per params key holds the descriptors
// and, per direction, its own convolution descriptor with the math type of the algorithm chosen
// for it (conv_algo.h) and a workspace of max(the heuristic's estimate, cudnnGet*WorkspaceSize for
// that algorithm and math type). Pointers handed to cuDNN are 16-byte aligned: an offset view is
// copied first (tensor/aligned.h). Dimensions are checked to fit cuDNN's int (dense_dims.h).
#include <algorithm>
#include <memory>
#include <string>

#include "tensor/aligned.h"
#include "tensor/cuda/conv_algo.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/dense_dims.h"
#include "tensor/geometry.h"

namespace fg::cuda {

namespace {
constexpr size_t kMaxWorkspace = size_t{1} << 30;  // per call; algorithms asking more are skipped
cudnnDataType_t cudnn_type(DType t) { return t == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

std::string conv_str(const Conv2dParams& p) {
  return fmt::format("N={} C={} {}x{} O={} kernel {}x{} stride {} pad {} dilation {} groups {}", p.N, p.C, p.H, p.W,
                     p.O, p.KH, p.KW, p.stride_h, p.pad_h, p.dil_h, p.groups);
}
}  // namespace

struct ConvPlan {
  struct Direction {
    cudnnConvolutionDescriptor_t conv = nullptr;
    int algo = -1;  // -1: none fits (error says why)
    cudnnMathType_t math = CUDNN_FMA_MATH;
    size_t ws = 0;
    std::string error;
  };
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  Direction fwd, data, filter;
  std::string error;  // the plan could not be built
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    for (Direction* d : {&fwd, &data, &filter})
      if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
  }
};

namespace {

cudnnConvolutionDescriptor_t make_conv(const ConvDims& d, DType t, cudnnMathType_t math) {
  cudnnConvolutionDescriptor_t c = nullptr;
  FG_CUDNN(cudnnCreateConvolutionDescriptor(&c));
  FG_CUDNN(cudnnSetConvolution2dDescriptor(c, d.pad_h, d.pad_w, d.stride_h, d.stride_w, d.dil_h, d.dil_w,
                                           CUDNN_CROSS_CORRELATION, cudnn_type(t)));
  FG_CUDNN(cudnnSetConvolutionGroupCount(c, d.groups));
  FG_CUDNN(cudnnSetConvolutionMathType(c, math));
  return c;
}

// The first ranked candidate whose math type sets and whose workspace for that algorithm and
// math type is known and within the limit; else the direction's error names what cuDNN offered.
template <class WsQuery>
void choose(ConvPlan::Direction& dir, ConvDirection which, const std::vector<AlgoPerf>& perf, bool tf32,
            const Conv2dParams& p, WsQuery ws_query) {
  for (const AlgoCandidate& c : rank_algos(which, perf, tf32, kMaxWorkspace)) {
    if (cudnnSetConvolutionMathType(dir.conv, c.math) != CUDNN_STATUS_SUCCESS) continue;
    size_t ws = 0;
    if (ws_query(c.algo, &ws) != CUDNN_STATUS_SUCCESS) continue;
    ws = std::max(ws, c.memory);
    if (ws > kMaxWorkspace) continue;
    dir.algo = c.algo;
    dir.math = c.math;
    dir.ws = ws;
    if (!c.deterministic)
      warn_nondeterministic_once(fmt::format(
          "cuDNN has no deterministic {} algorithm for conv {}; using {}, whose results may differ from run to "
          "run (a resumed run may not repeat the uninterrupted one exactly)",
          direction_name(which), conv_str(p), algo_name(which, c.algo)));
    return;
  }
  dir.error = fmt::format("conv2d {} on cuda: no cuDNN algorithm fits conv {} (TF32 {}, workspace at most {} MiB); "
                          "cuDNN offered: {}",
                          direction_name(which), conv_str(p), tf32 ? "on" : "off", kMaxWorkspace >> 20,
                          describe_perf(which, perf));
}

void build_plan(ConvPlan& c, cudnnHandle_t h, const Conv2dParams& p, DType t, bool tf32) {
  const ConvDims d = conv_dims(p);
  const cudnnDataType_t dt = cudnn_type(t);
  FG_CUDNN(cudnnCreateTensorDescriptor(&c.x));
  FG_CUDNN(cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NCHW, dt, d.N, d.C, d.H, d.W));
  FG_CUDNN(cudnnCreateTensorDescriptor(&c.y));
  FG_CUDNN(cudnnSetTensor4dDescriptor(c.y, CUDNN_TENSOR_NCHW, dt, d.N, d.O, d.OH, d.OW));
  FG_CUDNN(cudnnCreateTensorDescriptor(&c.bias));
  FG_CUDNN(cudnnSetTensor4dDescriptor(c.bias, CUDNN_TENSOR_NCHW, dt, 1, d.O, 1, 1));
  FG_CUDNN(cudnnCreateFilterDescriptor(&c.w));
  FG_CUDNN(cudnnSetFilter4dDescriptor(c.w, dt, CUDNN_TENSOR_NCHW, d.O, d.I, d.KH, d.KW));
  // the heuristics are asked with the math the run allows: FMA only unless TF32 is on
  const cudnnMathType_t query_math = tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  for (ConvPlan::Direction* dir : {&c.fwd, &c.data, &c.filter}) dir->conv = make_conv(d, t, query_math);
  int n = 0;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, c.x, c.w, c.fwd.conv, c.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                    &n, perf));
    choose(c.fwd, ConvDirection::Forward, perf_list(perf, n), tf32, p, [&](int algo, size_t* ws) {
      return cudnnGetConvolutionForwardWorkspaceSize(h, c.x, c.w, c.fwd.conv, c.y,
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws);
    });
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, c.w, c.y, c.data.conv, c.x,
                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    choose(c.data, ConvDirection::BackwardData, perf_list(perf, n), tf32, p, [&](int algo, size_t* ws) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(h, c.w, c.y, c.data.conv, c.x,
                                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws);
    });
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    FG_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, c.x, c.y, c.filter.conv, c.w,
                                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
    choose(c.filter, ConvDirection::BackwardFilter, perf_list(perf, n), tf32, p, [&](int algo, size_t* ws) {
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, c.x, c.y, c.filter.conv, c.w,
                                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws);
    });
  }
}

// the direction's algorithm, or its error
const ConvPlan::Direction& usable(const ConvPlan& c, const ConvPlan::Direction& d) {
  if (!c.error.empty()) fail(c.error);
  if (d.algo < 0) fail(d.error);
  return d;
}

// a failed cuDNN call of a direction, with the case, the algorithm, its math type and workspace
void check_run(cudnnStatus_t s, const char* call, ConvDirection which, const ConvPlan::Direction& d,
               const Conv2dParams& p) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  fail(fmt::format("{} (conv2d {} of {}; algorithm {}, {} math, workspace {:.1f} MiB)", cudnn_failure(call, s),
                   direction_name(which), conv_str(p), algo_name(which, d.algo), math_name(d.math),
                   static_cast<double>(d.ws) / (1 << 20)));
}

// alpha/beta scalars: double for f64 tensors, float otherwise (cuDNN's rule)
struct Scalars {
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  bool f64;
  const void* one() const { return f64 ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return f64 ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

// y += bias (per channel) with descriptors of its own: for an empty input, where cuDNN takes no
// convolution descriptors (zero dimensions) and so no plan exists
void add_bias_alone(cudnnHandle_t h, const Conv2dParams& p, DType t, const void* bias, void* y) {
  const ConvDims d = conv_dims(p);
  const cudnnDataType_t dt = cudnn_type(t);
  cudnnTensorDescriptor_t yd = nullptr, bd = nullptr;
  FG_CUDNN(cudnnCreateTensorDescriptor(&yd));
  FG_CUDNN(cudnnCreateTensorDescriptor(&bd));
  cudnnStatus_t st = cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, dt, d.N, d.O, d.OH, d.OW);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnSetTensor4dDescriptor(bd, CUDNN_TENSOR_NCHW, dt, 1, d.O, 1, 1);
  const Scalars s{1, 0, 1, 0, t == DType::F64};
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnAddTensor(h, s.one(), bd, bias, s.one(), yd, y);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(bd);
  FG_CUDNN(st);
}

void check_layout(const Conv2dParams& p, DType t, const char* op) {
  FG_CHECK(p.src_block == 0 && p.dst_block == 0, "{} on cuda: channel-blocked layouts are CPU-only", op);
  FG_CHECK(is_floating(t), "{}: dtype {} is not supported (f32 and f64 are)", op, dtype_name(t));
}

}  // namespace

std::shared_ptr<ConvPlan> CudaBackend::conv_plan(const Conv2dParams& p, DType t) {
  const bool tf32 = allow_tf32();
  conv_dims(p);  // a dimension beyond int is an error of its own, not a failed plan
  auto plan = conv_plans_.get(plan_key(p, (t == DType::F64 ? 2 : 0) + (tf32 ? 1 : 0)), [&] {
    auto c = std::make_shared<ConvPlan>();
    try {  // a failure is kept with the plan, so the message survives the cache
      build_plan(*c, cudnn_, p, t, tf32);
    } catch (const std::exception& e) {
      c->error = fmt::format("conv2d on cuda: cuDNN rejected conv {}: {}", conv_str(p), e.what());
    }
    return c;
  });
  FG_CHECK(plan, "conv2d on cuda: no plan for conv {}", conv_str(p));
  return plan;
}

Backend::ConvChoice CudaBackend::conv_choice(const Conv2dParams& p, DType t, ConvDir d) {
  ConvChoice c{false, true, "cudnn"};
  if (!is_floating(t) || p.src_block || p.dst_block || p.N * p.C * p.H * p.W == 0 || p.O * p.OH * p.OW == 0) return c;
  try {
    activate();
    auto plan = conv_plan(p, t);
    const ConvPlan::Direction& dir = d == ConvDir::Forward ? plan->fwd : d == ConvDir::BackwardData ? plan->data
                                                                                                 : plan->filter;
    const ConvDirection which = d == ConvDir::Forward        ? ConvDirection::Forward
                                : d == ConvDir::BackwardData ? ConvDirection::BackwardData
                                                             : ConvDirection::BackwardFilter;
    if (plan->error.empty() && dir.algo >= 0) c.kernel = algo_name(which, dir.algo);
  } catch (const Error&) {
    // the conv itself reports it
  }
  return c;
}

void CudaBackend::conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias,
                                 Tensor& y) {
  check_layout(p, x.dtype(), "conv2d");
  if (y.numel() == 0) return;
  activate();
  if (x.numel() == 0 || w.numel() == 0) {  // an empty sum: the bias alone
    fill(y, 0.0);
    if (bias) add_bias_alone(cudnn_, p, y.dtype(), aligned_input(*this, *bias).raw(), y.raw());
    if (p.relu) unary(UnaryOp::Relu, {}, elementwise_params("conv2d relu", y, {&y}), y, y);
    return;
  }
  auto c = conv_plan(p, x.dtype());
  const ConvPlan::Direction& d = usable(*c, c->fwd);
  const Scalars s{1, 0, 1, 0, x.dtype() == DType::F64};
  const Tensor xa = aligned_input(*this, x), wa = aligned_input(*this, w);
  const Tensor ba = bias ? aligned_input(*this, *bias) : Tensor();
  with_aligned_output(*this, y, [&](Tensor& ya) {
    void* ws = workspace(d.ws);
    check_run(cudnnConvolutionForward(cudnn_, s.one(), c->x, xa.raw(), c->w, wa.raw(), d.conv,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(d.algo), ws, d.ws, s.zero(), c->y,
                                      ya.raw()),
              "cudnnConvolutionForward", ConvDirection::Forward, d, p);
    if (bias) FG_CUDNN(cudnnAddTensor(cudnn_, s.one(), c->bias, ba.raw(), s.one(), c->y, ya.raw()));
    if (p.relu) unary(UnaryOp::Relu, {}, elementwise_params("conv2d relu", ya, {&ya}), ya, ya);
  });
  check_library_kernels(stream_, "conv2d forward (cudnn)");
}

void CudaBackend::conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  check_layout(p, dy.dtype(), "conv2d_backward_data");
  if (dx.numel() == 0) return;
  activate();
  if (dy.numel() == 0 || w.numel() == 0) return fill(dx, 0.0);
  auto c = conv_plan(p, dy.dtype());
  const ConvPlan::Direction& d = usable(*c, c->data);
  const Scalars s{1, 0, 1, 0, dy.dtype() == DType::F64};
  const Tensor dya = aligned_input(*this, dy), wa = aligned_input(*this, w);
  with_aligned_output(*this, dx, [&](Tensor& dxa) {
    void* ws = workspace(d.ws);
    check_run(cudnnConvolutionBackwardData(cudnn_, s.one(), c->w, wa.raw(), c->y, dya.raw(), d.conv,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(d.algo), ws, d.ws, s.zero(),
                                           c->x, dxa.raw()),
              "cudnnConvolutionBackwardData", ConvDirection::BackwardData, d, p);
  });
  check_library_kernels(stream_, "conv2d backward data (cudnn)");
}

void CudaBackend::conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                          Tensor* dbias) {
  check_layout(p, x.dtype(), "conv2d_backward_weights");
  activate();
  if (dy.numel() == 0 || x.numel() == 0) {  // nothing flowed back: zero gradients
    fill(dw, 0.0);
    if (dbias) fill(*dbias, 0.0);
    return;
  }
  auto c = conv_plan(p, x.dtype());
  const ConvPlan::Direction& d = usable(*c, c->filter);
  const Scalars s{1, 0, 1, 0, x.dtype() == DType::F64};
  const Tensor xa = aligned_input(*this, x), dya = aligned_input(*this, dy);
  with_aligned_output(*this, dw, [&](Tensor& dwa) {
    void* ws = workspace(d.ws);
    check_run(cudnnConvolutionBackwardFilter(cudnn_, s.one(), c->x, xa.raw(), c->y, dya.raw(), d.conv,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(d.algo), ws, d.ws,
                                             s.zero(), c->w, dwa.raw()),
              "cudnnConvolutionBackwardFilter", ConvDirection::BackwardFilter, d, p);
  });
  if (dbias)
    with_aligned_output(*this, *dbias, [&](Tensor& dba) {
      FG_CUDNN(cudnnConvolutionBackwardBias(cudnn_, s.one(), c->y, dya.raw(), s.zero(), c->bias, dba.raw()));
    });
  check_library_kernels(stream_, "conv2d backward filter (cudnn)");
}

}  // namespace fg::cuda
