// bench_conv: times flowgrad's conv2d forward and backward (backward-data + backward-weights with the
// bias gradient) at the conv shapes of the tutorial's GatedConvNet (simple/multiscale flows, both
// GatedConv variants). tools/bench_conv_torch.py runs the same shapes in PyTorch with the same JSON
// fields; tools/bench_conv.sh runs both and prints the ratio. A benchmark, not a test.
//
//   bench_conv [--batch 128] [--reps 10] [--warmup 2] [--threads 2] [--filter SUBSTR] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flowgrad/tensor/ops.h"
#include "tensor/ops_internal.h"

namespace {

// One conv of GatedConvNet(c_in, c_hidden): c_in->h 3x3 (first), h->h 3x3 (GatedConv v1),
// 2h->h 3x3 (GatedConv v2, ConcatELU first), 2h->2h 1x1 (GatedConv), 2h->2*c_in 3x3 (last).
struct ConvShape {
  int64_t hw, cin, cout, k;
  const char* note;
};

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      {28, 1, 32, 3, "first"},   {28, 32, 32, 3, "gated v1"},  {28, 64, 32, 3, "gated v2"},
      {28, 64, 64, 1, "gated"},  {28, 64, 2, 3, "last"},       {14, 4, 48, 3, "first"},
      {14, 48, 48, 3, "gated v1"}, {14, 96, 48, 3, "gated v2"}, {14, 96, 96, 1, "gated"},
      {14, 96, 8, 3, "last"},    {7, 8, 64, 3, "first"},       {7, 64, 64, 3, "gated v1"},
      {7, 128, 64, 3, "gated v2"}, {7, 128, 128, 1, "gated"},  {7, 128, 16, 3, "last"},
  };
  return s;
}

// Same spelling as bench_conv_torch.py: the table joins on it.
std::string name_of(const ConvShape& c) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%ldx%ld %ld->%ld k%ld (%s)", static_cast<long>(c.hw), static_cast<long>(c.hw),
                static_cast<long>(c.cin), static_cast<long>(c.cout), static_cast<long>(c.k), c.note);
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--batch N] [--reps N] [--warmup N] [--threads N] [--filter SUBSTR] [--json]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 128;
  int reps = 10, warmup = 2, threads = 2;
  bool json = false;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(usage(argv[0]));
      }
      return argv[++i];
    };
    if (a == "--batch") batch = std::atoll(next());
    else if (a == "--reps") reps = std::atoi(next());
    else if (a == "--warmup") warmup = std::atoi(next());
    else if (a == "--threads") threads = std::atoi(next());
    else if (a == "--filter") filter = next();
    else if (a == "--json") json = true;
    else return usage(argv[0]);
  }
  if (batch < 1 || reps < 1 || warmup < 0 || threads < 1) return usage(argv[0]);
  fg::set_num_threads(threads);

  if (!json)
    std::printf("flowgrad conv2d, batch %ld, threads %d, %d reps after %d warmups (median ms)\n",
                static_cast<long>(batch), fg::num_threads(), reps, warmup);
  fg::Generator gen(1234);
  for (const ConvShape& c : shapes()) {
    const std::string name = name_of(c);
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    const fg::Shape xs{batch, c.cin, c.hw, c.hw}, ws{c.cout, c.cin, c.k, c.k};
    fg::ConvOptions o;
    o.padding = fg::Pair2(c.k / 2);
    const fg::Tensor x = fg::randn(xs, fg::DType::F32, fg::Device::cpu(), &gen);
    const fg::Tensor w = fg::normal(ws, 0.0, 0.1, fg::DType::F32, fg::Device::cpu(), &gen);
    const fg::Tensor b = fg::normal({c.cout}, 0.0, 0.1, fg::DType::F32, fg::Device::cpu(), &gen);
    const fg::Tensor dy = fg::randn({batch, c.cout, c.hw, c.hw}, fg::DType::F32, fg::Device::cpu(), &gen);

    std::vector<double> fwd, bwd, tot;
    for (int r = 0; r < warmup + reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      fg::Tensor y = fg::conv2d(x, w, &b, o);
      const double f = ms_since(t0);
      t0 = std::chrono::steady_clock::now();
      fg::Tensor dx = fg::conv2d_backward_data(dy, w, xs, o);
      fg::Tensor db;
      fg::Tensor dw = fg::conv2d_backward_weights(x, dy, ws, o, &db);
      const double bk = ms_since(t0);
      if (r < warmup) continue;
      fwd.push_back(f);
      bwd.push_back(bk);
      tot.push_back(f + bk);
    }
    if (json)
      std::printf(
          "{\"impl\":\"flowgrad\",\"shape\":\"%s\",\"batch\":%ld,\"threads\":%d,\"reps\":%d,"
          "\"fwd_ms_median\":%.4f,\"bwd_ms_median\":%.4f,\"total_ms_median\":%.4f}\n",
          name.c_str(), static_cast<long>(batch), threads, reps, median(fwd), median(bwd), median(tot));
    else
      std::printf("%-28s fwd %9.3f  bwd %9.3f  total %9.3f\n", name.c_str(), median(fwd), median(bwd), median(tot));
    std::fflush(stdout);
  }
  return 0;
}
