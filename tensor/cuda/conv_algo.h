// Which cuDNN algorithm each convolution direction runs, chosen from cuDNN's ranked heuristics
// (the _v7 queries) by rules that keep the results close to the CPU's and repeatable:
// - an entry must report success and fit the workspace limit;
// - with TF32 off: never FFT, FFT_TILING or WINOGRAD_NONFUSED (their f32 error can pass the parity
//   tolerance of 1e-4), never an entry that asks for tensor-op math, and the descriptor gets
//   CUDNN_FMA_MATH (CUDNN_DEFAULT_MATH would allow TF32 on Ampere and later); the GEMM-based
//   algorithms (forward IMPLICIT_GEMM, IMPLICIT_PRECOMP_GEMM, GEMM, DIRECT; backward ALGO_0/1/3)
//   come before WINOGRAD;
// - with TF32 on: every algorithm, each with the math type its entry asks for;
// - deterministic algorithms first; a non-deterministic one only when nothing else fits, with a
//   warning on stderr (once per process), since a resumed run then need not repeat the
//   uninterrupted one exactly.
// cuDNN's own order is kept within each group. Pure functions of the perf lists, so they are tested
// without a GPU (tests/cuda/test_cuda_host.cpp).
#pragma once
#include <cudnn.h>

#include <string>
#include <vector>

namespace fg::cuda {

enum class ConvDirection { Forward, BackwardData, BackwardFilter };
const char* direction_name(ConvDirection d);      // "forward", "backward data", "backward filter"
const char* algo_name(ConvDirection d, int algo);  // e.g. "IMPLICIT_PRECOMP_GEMM", "ALGO_1"
const char* math_name(cudnnMathType_t m);          // "FMA", "DEFAULT", "TENSOR_OP", ...

// One of cuDNN's perf results, reduced to what the choice reads.
struct AlgoPerf {
  int algo;
  cudnnStatus_t status;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
};
template <class Perf>
std::vector<AlgoPerf> perf_list(const Perf* perf, int count) {
  std::vector<AlgoPerf> v;
  for (int i = 0; i < count; ++i)
    v.push_back({static_cast<int>(perf[i].algo), perf[i].status, perf[i].memory, perf[i].determinism,
                 perf[i].mathType});
  return v;
}

// An algorithm to try, with the math type to set on the direction's descriptor.
struct AlgoCandidate {
  int algo;
  cudnnMathType_t math;
  size_t memory;
  bool deterministic;
};
// The entries the rules above accept, best first.
std::vector<AlgoCandidate> rank_algos(ConvDirection d, const std::vector<AlgoPerf>& perf, bool tf32,
                                      size_t max_workspace);
// What cuDNN offered, for an error message: "FFT (2.0 MiB), ALGO_0 (non-deterministic), GEMM (NOT_SUPPORTED)"
std::string describe_perf(ConvDirection d, const std::vector<AlgoPerf>& perf);
// Prints `what` to stderr the first time it is called in the process; says whether it printed.
bool warn_nondeterministic_once(const std::string& what);

}  // namespace fg::cuda
