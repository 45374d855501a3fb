// Images: make_grid matches torchvision's layout and value mapping; PNGs written with libpng read
// back identically; bad shapes/dtypes/paths give clear errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "io_test_util.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;
using fg::test::TempDir;

TEST_CASE("make_grid: torchvision layout (nrow per row, padding around and between tiles)") {
  // 5 images 1x3x2 with pixel value = 10 * image index + position
  std::vector<uint8_t> v;
  for (int i = 0; i < 5; ++i)
    for (int p = 0; p < 6; ++p) v.push_back(static_cast<uint8_t>(10 * i + p));
  Tensor x = from_vector<uint8_t>(v, {5, 1, 3, 2});
  Tensor g = nn::make_grid(x, 3, 2, 0.5);
  // 3 columns, 2 rows of (3+2)x(2+2) tiles plus the outer padding
  CHECK(g.shape() == Shape{2 * 5 + 2, 3 * 4 + 2, 1});
  auto at = [&](int64_t y, int64_t xx) { return g.data<uint8_t>()[y * g.size(1) + xx]; };
  CHECK(at(0, 0) == 128);
  CHECK(at(2, 2) == 0);     // image 0, pixel (0,0)
  CHECK(at(4, 3) == 5);     // image 0, pixel (2,1)
  CHECK(at(2, 6) == 10);    // image 1 starts at x = 2 + 4
  CHECK(at(7, 2) == 30);    // image 3 starts at y = 2 + 5
  CHECK(at(7, 6) == 40);    // image 4
  CHECK(at(7, 10) == 128);  // the missing 6th tile stays padding
  CHECK(at(5, 2) == 128);   // padding between rows
}

TEST_CASE("make_grid: floats are clamped to [0,1] and rounded like torchvision; RGB keeps channels") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = from_vector<double>({-1.0, 0.0, 0.5, 1.0, 2.0, nan, 0.2, 0.999}, {1, 1, 2, 4});
  Tensor g = nn::make_grid(x, 8, 0);
  CHECK(g.shape() == Shape{2, 4, 1});
  CHECK(g.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 128, 255, 255, 0, 51, 255});
  Tensor rgb = from_vector<float>({0.f, 1.f, 0.f, 1.f, 1.f, 0.f}, {1, 3, 1, 2});  // R, G, B planes
  Tensor h = nn::make_grid(rgb, 8, 1, 0.0);
  CHECK(h.shape() == Shape{3, 4, 3});
  const uint8_t* p = h.data<uint8_t>() + (1 * 4 + 1) * 3;  // pixel (0,0) of the image
  CHECK(int{p[0]} == 0);                                   // pixel (0,0): R=0, G=0, B=1
  CHECK(int{p[1]} == 0);
  CHECK(int{p[2]} == 255);
  CHECK(int{p[3]} == 255);  // pixel (0,1): R=1, G=1, B=0
  CHECK(int{p[5]} == 0);
}

TEST_CASE("write_png / read_png round-trip gray and RGB exactly; the grid writer makes a valid PNG") {
  TempDir dir;
  std::vector<uint8_t> v(7 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 37);
  Tensor gray = from_vector<uint8_t>(v, {7, 5});
  nn::write_png(dir.file("g.png"), gray);
  auto raw = fg::test::read_bytes(dir.file("g.png"));
  REQUIRE(raw.size() > 8);
  CHECK(raw[1] == 'P');
  CHECK(raw[2] == 'N');
  CHECK(raw[3] == 'G');
  Tensor back = nn::read_png(dir.file("g.png"));
  CHECK(back.shape() == Shape{7, 5, 1});
  CHECK(back.to_vector<uint8_t>() == v);

  std::vector<uint8_t> c(4 * 3 * 3);
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<uint8_t>(255 - i * 5);
  nn::write_png(dir.file("c.png"), from_vector<uint8_t>(c, {4, 3, 3}));
  Tensor cb = nn::read_png(dir.file("c.png"));
  CHECK(cb.shape() == Shape{4, 3, 3});
  CHECK(cb.to_vector<uint8_t>() == c);

  Tensor batch = rand({10, 1, 28, 28});
  nn::write_png_grid(dir.file("grid.png"), batch, 4);
  Tensor grid = nn::read_png(dir.file("grid.png"));
  CHECK(grid.shape() == Shape{3 * 30 + 2, 4 * 30 + 2, 1});
  CHECK(grid.to_vector<uint8_t>() == nn::make_grid(batch, 4).to_vector<uint8_t>());
  CHECK(dir.count_files() == 3);  // no temporaries
}

TEST_CASE("image errors name the problem and the file") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(nn::make_grid(zeros({2, 2, 4, 4})), doctest::Contains("2 channels"), Error);
  CHECK_THROWS_WITH_AS(nn::make_grid(zeros({4, 4})), doctest::Contains("expected [N, C, H, W]"), Error);
  CHECK_THROWS_WITH_AS(nn::make_grid(zeros({1, 1, 4, 4}, DType::I32)), doctest::Contains("i32 not supported"), Error);
  CHECK_THROWS_WITH_AS(nn::make_grid(zeros({1, 1, 4, 4}), 0), doctest::Contains("nrow"), Error);
  CHECK_THROWS_WITH_AS(nn::write_png(dir.file("a.png"), zeros({4, 4})), doctest::Contains("expected u8"), Error);
  CHECK_THROWS_WITH_AS(nn::write_png(dir.file("a.png"), zeros({4, 4, 2}, DType::U8)), doctest::Contains("[H, W, 3]"),
                       Error);
  std::string bad_dir = dir.file("nope/a.png");
  CHECK_THROWS_WITH_AS(nn::write_png(bad_dir, zeros({4, 4}, DType::U8)), doctest::Contains(bad_dir.c_str()), Error);
  fg::test::write_bytes(dir.file("junk.png"), {1, 2, 3, 4, 5});
  CHECK_THROWS_WITH_AS(nn::read_png(dir.file("junk.png")), doctest::Contains(dir.file("junk.png").c_str()), Error);
  CHECK(dir.count_files() == 1);
}
