// Tensor basics: creation, reshape sharing storage, casts, device parsing, seeded randomness.
#include <doctest/doctest.h>

#include <cmath>

#include "flowgrad/tensor/ops.h"
#include "tensor/uniform_at.h"

using namespace fg;

TEST_CASE("from_vector/to_vector round-trip and item") {
  Tensor t = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dtype() == DType::F32);
  CHECK(t.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(sum(t).item() == 21.0);
  CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("6 elements"), Error);
}

TEST_CASE("reshape shares storage and infers -1; bad reshape names both shapes") {
  Tensor t = arange(0, 12);
  Tensor r = t.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 4});
  CHECK(r.shares_storage(t));
  CHECK_THROWS_WITH_AS(t.reshape({5, 3}), doctest::Contains("[12]"), Error);
  CHECK_THROWS_WITH_AS(t.reshape({5, 3}), doctest::Contains("[5, 3]"), Error);
}

TEST_CASE("casts between all dtypes") {
  Tensor t = from_vector<double>({0.5, 1.5, 255.0, -2.0}, {4});
  CHECK(t.to(DType::I32).to_vector<int32_t>() == std::vector<int32_t>{0, 1, 255, -2});
  CHECK(t.to(DType::F32).to_vector<float>() == std::vector<float>{0.5f, 1.5f, 255.f, -2.f});
  Tensor u = from_vector<uint8_t>({0, 7, 255}, {3});
  CHECK(u.to(DType::F64).to_vector<double>() == std::vector<double>{0, 7, 255});
}

TEST_CASE("data<T> checks dtype") {
  Tensor t = zeros({2}, DType::F64);
  CHECK_THROWS_WITH_AS(t.data<float>(), doctest::Contains("f64"), Error);
}

TEST_CASE("device parsing and unavailable devices") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), doctest::Contains("'gpu'"), Error);
  std::string why;
  if (!device_available(Device::cuda(0), &why)) {
    CHECK(!why.empty());
    CHECK_THROWS_WITH_AS(zeros({2}, DType::F32, Device::cuda(0)), doctest::Contains("cuda:0"), Error);
  }
}

TEST_CASE("seeded random streams are reproducible and have the right moments") {
  Generator g1(42), g2(42);
  Tensor a = rand({10000}, DType::F32, Device::cpu(), &g1);
  Tensor b = rand({10000}, DType::F32, Device::cpu(), &g2);
  CHECK(max_abs_diff(a, b) == 0.0);
  Tensor c = rand({10000}, DType::F32, Device::cpu(), &g1);  // advances: a different draw
  CHECK(max_abs_diff(a, c) > 0.0);
  CHECK(amin(a).item() >= 0.0);
  CHECK(amax(a).item() < 1.0);
  CHECK(std::abs(mean(a).item() - 0.5) < 0.01);
  Generator g3(7);
  Tensor n = randn({200000}, DType::F64, Device::cpu(), &g3);
  double m = mean(n).item(), v = mean(square(n - m)).item();
  CHECK(std::abs(m) < 0.01);
  CHECK(std::abs(v - 1.0) < 0.01);
  // the draw does not depend on the thread count
  Generator g4(42);
  set_num_threads(1);
  Tensor a1 = rand({10000}, DType::F32, Device::cpu(), &g4);
  set_num_threads(2);
  CHECK(max_abs_diff(a, a1) == 0.0);
}

// Element i of a normal draw, by definition: Box-Muller on word pair (i % 4) / 2 of counter i / 4.
static double normal_at(int64_t i, uint64_t seed) {
  const Philox4 r = philox(seed, static_cast<uint64_t>(i / 4));
  const int lane = static_cast<int>(i % 4), pair = lane / 2;
  const double u1 = (r.v[2 * pair] + 1.0) * (1.0 / 4294967296.0), u2 = r.v[2 * pair + 1] * (1.0 / 4294967296.0);
  const double rad = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
  return lane % 2 == 0 ? rad * std::cos(th) : rad * std::sin(th);
}

TEST_CASE("random fills: element i is the stream's element i, for any length, dtype and thread count") {
  // counters shared by several elements, a partial last counter, and draws split between threads
  for (int64_t n : {1, 7, 4097, 30001}) {
    for (int threads : {1, 2}) {
      CAPTURE(n); CAPTURE(threads);
      set_num_threads(threads);
      Generator g1(5), g2(5), g3(5), g4(5);  // offset 0
      const auto u32 = rand({n}, DType::F32, Device::cpu(), &g1).to_vector<float>();
      const auto u64 = rand({n}, DType::F64, Device::cpu(), &g2).to_vector<double>();
      const auto n32 = randn({n}, DType::F32, Device::cpu(), &g3).to_vector<float>();
      const auto n64 = randn({n}, DType::F64, Device::cpu(), &g4).to_vector<double>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double z = normal_at(i, 5);
        wrong += u32[i] != uniform_at<float>(i, 0.0, 1.0, 5, 0) || u64[i] != uniform_at<double>(i, 0.0, 1.0, 5, 0) ||
                 n32[i] != static_cast<float>(z) || n64[i] != z;
      }
      CHECK(wrong == 0);
    }
  }
  set_num_threads(2);
}

TEST_CASE("arange and linspace") {
  CHECK(arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, DType::F64).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(linspace(0, 1, 5, DType::F64).to_vector<double>() == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
}
