// The CUDA backend's host logic, run on any machine with the toolkit (no GPU needed): the error
// reports (a failed cudaMalloc that is not out of memory, cuDNN's detail string, the int limits of
// cuBLAS/cuDNN), the switch for synchronous launches, and the cuDNN algorithm rules
// (tensor/cuda/conv_algo.h) on made-up heuristic results.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/cuda/allocator.h"
#include "tensor/cuda/conv_algo.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/dense_dims.h"

using namespace fg;
using namespace fg::cuda;

namespace {

std::string self_exe;

bool have_gpu() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  (void)cudaGetLastError();
  return ok;
}

// sync_launches() as a child process with `env` in its environment sees it
std::string sync_probe(const char* env) {
  const std::string cmd = std::string("env -u FG_CUDA_SYNC -u CUDA_LAUNCH_BLOCKING ") + env + " " + self_exe +
                          " --sync-probe";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f);
  char buf[64] = {0};
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  pclose(f);
  return std::string(buf, n);
}

}  // namespace

TEST_CASE("a cudaMalloc failure is 'out of memory' only when it is cudaErrorMemoryAllocation") {
  const std::string oom = malloc_failure(0, 3 << 20, 1 << 20, cudaErrorMemoryAllocation);
  CHECK(oom.find("cuda:0: out of memory allocating 3.0 MiB (1.0 MiB held by tensors") == 0);
  const std::string fault = malloc_failure(1, 3 << 20, 0, cudaErrorIllegalAddress);
  INFO(fault);
  CHECK(fault.find("out of memory") == std::string::npos);
  CHECK(fault.find("cuda:1: cudaMalloc of 3.0 MiB failed") == 0);
  CHECK(fault.find("cudaErrorIllegalAddress") != std::string::npos);
  CHECK(fault.find("FG_CUDA_SYNC=1") != std::string::npos);
}

TEST_CASE("the allocator reports a cudaMalloc that fails for want of a driver as that, not as out of memory") {
  if (have_gpu()) return;  // (the GPU machine allocates; the message cases above still ran)
  DeviceAllocator a(0);
  try {
    a.allocate(4096);
    FAIL("cudaMalloc without a GPU succeeded");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("out of memory") == std::string::npos);
    CHECK(m.find("cudaMalloc") != std::string::npos);
    CHECK(m.find("cudaError") != std::string::npos);
  }
}

TEST_CASE("a failed cuDNN call carries cudnnGetLastErrorString's detail") {
  if (have_gpu()) return;  // cudnnCreate succeeds there
  cudnnHandle_t h = nullptr;
  try {
    FG_CUDNN(cudnnCreate(&h));
    FAIL("cudnnCreate without a GPU succeeded");
  } catch (const Error& e) {
    const std::string m = e.what(), base = "cudnn: cudnnCreate(&h) failed: CUDNN_STATUS_NOT_INITIALIZED";
    INFO(m);
    REQUIRE(m.rfind(base, 0) == 0);
    CHECK(m.size() > base.size() + 2);  // ": <cuDNN's reason>"
    CHECK(m.find('\n') == std::string::npos);
  }
}

TEST_CASE("FG_CUDA_SYNC or CUDA_LAUNCH_BLOCKING switches on synchronous launches") {
  CHECK(sync_probe("") == "sync 0");
  CHECK(sync_probe("FG_CUDA_SYNC=1") == "sync 1");
  CHECK(sync_probe("CUDA_LAUNCH_BLOCKING=1") == "sync 1");
  CHECK(sync_probe("FG_CUDA_SYNC=0") == "sync 0");
}

TEST_CASE("sizes beyond the int of cuBLAS and cuDNN are errors naming the op and the value") {
  CHECK(to_int(INT_MAX, "op", "n") == INT_MAX);
  CHECK_THROWS_WITH_AS(to_int(int64_t{1} << 31, "matmul", "K"),
                       "matmul on cuda: K = 2147483648 does not fit the int that cuBLAS/cuDNN take (at most 2147483647)",
                       Error);
}

TEST_CASE("matmul and conv dimensions beyond int are refused before cuBLAS/cuDNN see them") {
  MatmulParams mp{1, int64_t{1} << 31, 4, 8, 0, 0, 0, 0};
  CHECK_THROWS_WITH_AS(gemm_dims(mp), doctest::Contains("matmul on cuda: M = 2147483648"), Error);
  mp = {2, 3, 5, 7, 1, 0, 21, 35};
  const GemmDims g = gemm_dims(mp);  // C^T = B^T A^T: m = N, n = M, lda = M when A is transposed
  CHECK((g.m == 5 && g.n == 3 && g.k == 7 && g.lda == 3 && g.ldb == 5 && g.ldc == 5 && g.batch == 2));
  Conv2dParams cp{};
  cp.N = 1 << 16, cp.C = 1 << 8, cp.H = cp.W = 1 << 4, cp.O = 1, cp.KH = cp.KW = 1, cp.OH = cp.OW = 1 << 4;
  cp.stride_h = cp.stride_w = cp.dil_h = cp.dil_w = cp.groups = 1;
  CHECK_THROWS_WITH_AS(conv_dims(cp), doctest::Contains("conv2d on cuda: the input's element count = 4294967296"),
                       Error);
  cp.N = 2;
  CHECK(conv_dims(cp).C == 256);
}

namespace {
AlgoPerf perf(int algo, cudnnMathType_t math = CUDNN_DEFAULT_MATH, bool deterministic = true,
              size_t memory = 1 << 20, cudnnStatus_t status = CUDNN_STATUS_SUCCESS) {
  return {algo, status, memory, deterministic ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC, math};
}
std::string names(ConvDirection d, const std::vector<AlgoCandidate>& c) {
  std::string s;
  for (const AlgoCandidate& a : c) s += std::string(s.empty() ? "" : " ") + algo_name(d, a.algo);
  return s;
}
}  // namespace

TEST_CASE("with TF32 off: no FFT, FFT_TILING, WINOGRAD_NONFUSED or tensor-op math; GEMM-based first; FMA math") {
  const ConvDirection f = ConvDirection::Forward;
  const std::vector<AlgoPerf> offered = {
      perf(CUDNN_CONVOLUTION_FWD_ALGO_FFT), perf(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED),
      perf(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD),
      perf(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_TENSOR_OP_MATH),
      perf(CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING), perf(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM),
      perf(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_FMA_MATH)};
  const auto c = rank_algos(f, offered, false, size_t{1} << 30);
  CHECK(names(f, c) == "IMPLICIT_GEMM GEMM WINOGRAD");
  for (const AlgoCandidate& a : c) CHECK(a.math == CUDNN_FMA_MATH);
  // with TF32 on: cuDNN's order, each with the math type it asked for
  const auto t = rank_algos(f, offered, true, size_t{1} << 30);
  CHECK(names(f, t) == "FFT WINOGRAD_NONFUSED WINOGRAD IMPLICIT_PRECOMP_GEMM FFT_TILING IMPLICIT_GEMM GEMM");
  CHECK(t[3].math == CUDNN_TENSOR_OP_MATH);
}

TEST_CASE("deterministic algorithms first; a non-deterministic one only after them, marked so") {
  const ConvDirection d = ConvDirection::BackwardData;
  const std::vector<AlgoPerf> offered = {perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_DEFAULT_MATH, false),
                                         perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING),
                                         perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)};
  auto c = rank_algos(d, offered, false, size_t{1} << 30);
  CHECK(names(d, c) == "ALGO_1 ALGO_0");
  CHECK(c[0].deterministic);
  CHECK(!c[1].deterministic);
  // only the non-deterministic one fits the workspace
  const std::vector<AlgoPerf> tight = {perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_DEFAULT_MATH, true, 2 << 20),
                                       perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_DEFAULT_MATH, false, 0)};
  c = rank_algos(d, tight, false, 1 << 20);
  CHECK(names(d, c) == "ALGO_0");
  CHECK(warn_nondeterministic_once("test: the first warning is printed"));
  CHECK(!warn_nondeterministic_once("test: later ones are not"));
}

TEST_CASE("failed and oversized entries are skipped, and what cuDNN offered is described for the error") {
  const ConvDirection w = ConvDirection::BackwardFilter;
  const std::vector<AlgoPerf> offered = {
      perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_DEFAULT_MATH, true, 0, CUDNN_STATUS_NOT_SUPPORTED),
      perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_DEFAULT_MATH, true, size_t{4} << 30),
      perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING)};
  CHECK(rank_algos(w, offered, false, size_t{1} << 30).empty());
  CHECK(describe_perf(w, offered) ==
        "ALGO_1 (NOT_SUPPORTED), ALGO_3 (4096.0 MiB, DEFAULT math), FFT_TILING (1.0 MiB, DEFAULT math)");
  CHECK(std::string(algo_name(w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED)) == "WINOGRAD_NONFUSED");
  CHECK(std::string(algo_name(ConvDirection::Forward, 99)) == "UNKNOWN");
}

int main(int argc, char** argv) {
  self_exe = argv[0];
  if (argc > 1 && std::strcmp(argv[1], "--sync-probe") == 0) {
    std::printf("sync %d", sync_launches() ? 1 : 0);
    return 0;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
