// Runs a fuzz harness without libFuzzer, for the test suite: every file of the seed corpus, then
// random mutations of them (byte flips, truncations, duplicated spans, random bytes) for a given
// number of seconds. A crash fails the test; libFuzzer builds (meson -Dfuzz=true with clang) do
// the long, coverage-guided runs.
//   fuzz_X_smoke CORPUS_DIR SECONDS
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR SECONDS\n", argv[0]);
    return 2;
  }
  std::vector<std::vector<uint8_t>> corpus;
  for (auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream f(e.path(), std::ios::binary);
    corpus.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "%s: empty corpus %s\n", argv[0], argv[1]);
    return 2;
  }
  for (auto& c : corpus) LLVMFuzzerTestOneInput(c.data(), c.size());
  std::mt19937_64 rng(12345);
  const double secs = std::atof(argv[2]);
  auto t0 = std::chrono::steady_clock::now();
  int64_t runs = static_cast<int64_t>(corpus.size());
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < secs) {
    std::vector<uint8_t> b = corpus[rng() % corpus.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      switch (rng() % 4) {
        case 0:
          if (!b.empty()) b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          if (!b.empty()) b.resize(rng() % b.size());
          break;
        case 2:
          if (b.size() > 1) {
            size_t at = rng() % b.size(), len = 1 + rng() % std::min<size_t>(16, b.size() - at);
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at),
                     b.begin() + static_cast<std::ptrdiff_t>(at + len));
          }
          break;
        default:
          if (!b.empty()) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      }
    }
    LLVMFuzzerTestOneInput(b.data(), b.size());
    ++runs;
  }
  std::printf("%s: %lld inputs (%zu from the corpus), no crash\n", argv[0], static_cast<long long>(runs), corpus.size());
  return 0;
}
