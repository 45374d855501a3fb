// bench_sgemm: the machine's measured f32 peak, by oneDNN's sgemm (dnnl_sgemm, a well-known
// tuned GEMM) on square matrices, with the threads of OMP_NUM_THREADS. Prints one JSON line with
// the median and best GFLOP/s over --reps multiplications after one warm-up. Convolution-heavy
// training steps are compared against this peak (tools/bench_vs_peer's numbers, the peer's flops).
//   OMP_NUM_THREADS=2 build/tools/bench_sgemm [N=2048] [reps=7]
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 2048;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 7;
  if (n <= 0 || reps <= 0) {
    std::fprintf(stderr, "usage: bench_sgemm [N > 0] [reps > 0]\n");
    return 2;
  }
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n, 0.0f);
  std::vector<double> gflops;
  for (int r = 0; r <= reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n) != dnnl_success) {
      std::fprintf(stderr, "bench_sgemm: dnnl_sgemm failed\n");
      return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) gflops.push_back(2.0 * n * n * n / s / 1e9);
  }
  std::sort(gflops.begin(), gflops.end());
  std::printf("{\"cmd\": \"sgemm\", \"n\": %ld, \"threads\": %d, \"median_gflops\": %.1f, \"best_gflops\": %.1f, \"check\": %.1f}\n",
              n, omp_get_max_threads(), gflops[gflops.size() / 2], gflops.back(), c[0]);
  return 0;
}
