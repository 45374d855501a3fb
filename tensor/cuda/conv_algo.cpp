// The cuDNN algorithm rules of conv_algo.h.
#include "tensor/cuda/conv_algo.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include <fmt/format.h>

namespace fg::cuda {

namespace {

// 0: GEMM-based (exact up to f32 summation order), 1: WINOGRAD, 2: FFT / FFT_TILING /
// WINOGRAD_NONFUSED (transform error, not used with TF32 off)
int accuracy_class(ConvDirection d, int algo) {
  switch (d) {
    case ConvDirection::Forward:
      switch (static_cast<cudnnConvolutionFwdAlgo_t>(algo)) {
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return 1;
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return 2;
        default: return 0;
      }
    case ConvDirection::BackwardData:
      switch (static_cast<cudnnConvolutionBwdDataAlgo_t>(algo)) {
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD: return 1;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT:
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING:
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED: return 2;
        default: return 0;
      }
    case ConvDirection::BackwardFilter:
      switch (static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo)) {
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD: return 1;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT:
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING:
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED: return 2;
        default: return 0;
      }
  }
  return 2;
}

bool tensor_op(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

std::string status_name(cudnnStatus_t s) {
  std::string n = cudnnGetErrorString(s);
  return n.rfind("CUDNN_STATUS_", 0) == 0 ? n.substr(13) : n;
}

}  // namespace

const char* direction_name(ConvDirection d) {
  switch (d) {
    case ConvDirection::Forward: return "forward";
    case ConvDirection::BackwardData: return "backward data";
    case ConvDirection::BackwardFilter: return "backward filter";
  }
  return "?";
}

const char* algo_name(ConvDirection d, int algo) {
  static const char* fwd[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                              "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  auto pick = [algo](const char* const* names, int n) { return algo >= 0 && algo < n ? names[algo] : "UNKNOWN"; };
  switch (d) {
    case ConvDirection::Forward: return pick(fwd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    case ConvDirection::BackwardData: return pick(data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    case ConvDirection::BackwardFilter: return pick(filter, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
  }
  return "UNKNOWN";
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH: return "FMA";
  }
  return "?";
}

std::vector<AlgoCandidate> rank_algos(ConvDirection d, const std::vector<AlgoPerf>& perf, bool tf32,
                                      size_t max_workspace) {
  struct Ranked {
    int group;
    AlgoCandidate c;
  };
  std::vector<Ranked> r;
  for (const AlgoPerf& q : perf) {
    if (q.status != CUDNN_STATUS_SUCCESS || q.memory > max_workspace) continue;
    const bool deterministic = q.determinism == CUDNN_DETERMINISTIC;
    const int cls = accuracy_class(d, q.algo);
    if (!tf32 && (cls == 2 || tensor_op(q.math))) continue;
    const int group = (deterministic ? 0 : 2) + (tf32 ? 0 : cls);
    r.push_back({group, {q.algo, tf32 ? q.math : CUDNN_FMA_MATH, q.memory, deterministic}});
  }
  std::stable_sort(r.begin(), r.end(), [](const Ranked& a, const Ranked& b) { return a.group < b.group; });
  std::vector<AlgoCandidate> out;
  for (const Ranked& x : r) out.push_back(x.c);
  return out;
}

std::string describe_perf(ConvDirection d, const std::vector<AlgoPerf>& perf) {
  std::string s;
  for (const AlgoPerf& q : perf) {
    if (!s.empty()) s += ", ";
    s += algo_name(d, q.algo);
    if (q.status != CUDNN_STATUS_SUCCESS) {
      s += fmt::format(" ({})", status_name(q.status));
      continue;
    }
    s += fmt::format(" ({:.1f} MiB, {} math{})", static_cast<double>(q.memory) / (1 << 20), math_name(q.math),
                     q.determinism == CUDNN_DETERMINISTIC ? "" : ", non-deterministic");
  }
  return s.empty() ? "nothing" : s;
}

bool warn_nondeterministic_once(const std::string& what) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return false;
  std::fprintf(stderr, "flowgrad: %s\n", what.c_str());
  return true;
}

}  // namespace fg::cuda
