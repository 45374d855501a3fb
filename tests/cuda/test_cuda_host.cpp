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
#include "tensor/cuda/cuda_check.h"

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

int main(int argc, char** argv) {
  self_exe = argv[0];
  if (argc > 1 && std::strcmp(argv[1], "--sync-probe") == 0) {
    std::printf("sync %d", sync_launches() ? 1 : 0);
    return 0;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
