// IDX reader: round trips (raw and gzip) and clear fg::Error messages for every kind of bad file;
// random garbage never crashes and never throws anything but fg::Error.
#include <doctest/doctest.h>
#include <zlib.h>

#include <random>

#include "io_test_util.h"
#include "flowgrad/nn/idx.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;
using fg::test::put_be32;
using fg::test::TempDir;
using fg::test::write_bytes;

namespace {

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, size_t payload, uint8_t type = 0x08) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 3));
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& b) {
  gzFile g = gzopen(path.c_str(), "wb");
  REQUIRE(g != nullptr);
  if (!b.empty()) REQUIRE(gzwrite(g, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  gzclose(g);
}

std::string error_of(const std::string& path) {
  try {
    nn::read_idx(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("read_idx: raw and gzip files give the header's shape and the exact bytes") {
  TempDir dir;
  auto b = idx_bytes({3, 4, 5}, 60);
  write_bytes(dir.file("a-idx3-ubyte"), b);
  write_gz(dir.file("a-idx3-ubyte.gz"), b);
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    Tensor t = nn::read_idx(dir.file(name));
    CHECK(t.dtype() == DType::U8);
    CHECK(t.shape() == Shape{3, 4, 5});
    auto v = t.to_vector<uint8_t>();
    CHECK(std::vector<uint8_t>(b.begin() + 16, b.end()) == v);
  }
}

TEST_CASE("write_idx then read_idx round-trips a labels vector") {
  TempDir dir;
  Tensor labels = from_vector<uint8_t>({7, 2, 1, 0, 4}, {5});
  nn::write_idx(dir.file("l-idx1-ubyte"), labels);
  auto raw = fg::test::read_bytes(dir.file("l-idx1-ubyte"));
  REQUIRE(raw.size() == 8 + 5);
  CHECK(raw[2] == 0x08);
  CHECK(raw[3] == 1);
  CHECK(nn::read_idx(dir.file("l-idx1-ubyte")).to_vector<uint8_t>() == labels.to_vector<uint8_t>());
  CHECK(dir.count_files() == 1);  // no temporaries left behind
}

TEST_CASE("read_idx: truncated payload says how many bytes were expected and found") {
  TempDir dir;
  write_bytes(dir.file("t"), idx_bytes({3, 4, 5}, 59));
  std::string e = error_of(dir.file("t"));
  CHECK(e.find(dir.file("t")) != std::string::npos);
  CHECK(e.find("expected 60 bytes of data") != std::string::npos);
  CHECK(e.find("found 59") != std::string::npos);
  write_gz(dir.file("t.gz"), idx_bytes({3, 4, 5}, 10));
  e = error_of(dir.file("t.gz"));
  CHECK(e.find("expected 60 bytes of data") != std::string::npos);
  CHECK(e.find("found 10") != std::string::npos);
}

TEST_CASE("read_idx: trailing bytes after the data are an error") {
  TempDir dir;
  write_bytes(dir.file("t"), idx_bytes({2, 2}, 7));
  CHECK(error_of(dir.file("t")).find("3 trailing bytes") != std::string::npos);
  write_gz(dir.file("t.gz"), idx_bytes({2, 2}, 7));
  CHECK(error_of(dir.file("t.gz")).find("3 trailing bytes") != std::string::npos);
}

TEST_CASE("read_idx: bad magic, unsupported type, bad dimension counts and sizes") {
  TempDir dir;
  write_bytes(dir.file("m"), {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9});
  CHECK(error_of(dir.file("m")).find("bad magic number 0x12345678") != std::string::npos);
  write_bytes(dir.file("f"), idx_bytes({2}, 8, 0x0D));
  CHECK(error_of(dir.file("f")).find("0x0d (float) is not supported") != std::string::npos);
  write_bytes(dir.file("z"), idx_bytes({}, 0));
  CHECK(error_of(dir.file("z")).find("declares 0 dimensions") != std::string::npos);
  write_bytes(dir.file("d0"), idx_bytes({3, 0, 2}, 0));
  CHECK(error_of(dir.file("d0")).find("dimension 1 of 3 has size 0") != std::string::npos);
  auto hdr = idx_bytes({10, 10, 10}, 0);
  hdr.resize(9);  // the magic and 5 of the 12 bytes of sizes
  write_bytes(dir.file("h"), hdr);
  CHECK(error_of(dir.file("h")).find("truncated header") != std::string::npos);
  write_bytes(dir.file("short"), {0, 0});
  CHECK(error_of(dir.file("short")).find("too short for the 4-byte magic") != std::string::npos);
  write_bytes(dir.file("empty"), {});
  CHECK(error_of(dir.file("empty")).find("too short") != std::string::npos);
  CHECK(error_of(dir.file("missing")).find("not found") != std::string::npos);
  CHECK(error_of(dir.path.string()).find("is a directory") != std::string::npos);
}

TEST_CASE("read_idx: a header promising terabytes fails cleanly without allocating them") {
  TempDir dir;
  write_bytes(dir.file("big"), idx_bytes({0xffffffffu, 0xffffffffu}, 16));
  CHECK(error_of(dir.file("big")).find("implausibly large") != std::string::npos);
  write_bytes(dir.file("big2"), idx_bytes({60000, 60000, 100}, 16));
  CHECK(error_of(dir.file("big2")).find("expected 360000000000 bytes of data") != std::string::npos);
  write_gz(dir.file("big2.gz"), idx_bytes({60000, 60000, 100}, 16));
  CHECK(error_of(dir.file("big2.gz")).find("found 16") != std::string::npos);
}

TEST_CASE("read_idx: a cut-off or corrupted gzip stream is reported as such") {
  TempDir dir;
  write_gz(dir.file("ok.gz"), idx_bytes({100, 100}, 10000));
  auto gz = fg::test::read_bytes(dir.file("ok.gz"));
  auto cut = std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2);
  write_bytes(dir.file("cut.gz"), cut);
  std::string e = error_of(dir.file("cut.gz"));
  CHECK(e.find("gzip") != std::string::npos);
  CHECK(e.find(dir.file("cut.gz")) != std::string::npos);
  auto bad = gz;
  for (size_t i = 12; i < bad.size() - 8; i += 3) bad[i] ^= 0x5a;
  write_bytes(dir.file("bad.gz"), bad);
  CHECK(error_of(dir.file("bad.gz")).find("gzip") != std::string::npos);
}

TEST_CASE("read_idx: random garbage and mutated files never crash, only throw fg::Error") {
  TempDir dir;
  std::mt19937 rng(1234);
  auto good = idx_bytes({4, 5, 6}, 120);
  std::vector<uint8_t> good_gz;
  write_gz(dir.file("g.gz"), good);
  good_gz = fg::test::read_bytes(dir.file("g.gz"));
  int ok = 0, errors = 0;
  for (int it = 0; it < 300; ++it) {
    std::vector<uint8_t> b = (it % 3 == 0) ? good : (it % 3 == 1) ? good_gz : std::vector<uint8_t>(rng() % 64);
    if (it % 3 == 2)
      for (auto& x : b) x = static_cast<uint8_t>(rng());
    else {
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      if (rng() % 2) b.resize(rng() % b.size());
    }
    write_bytes(dir.file("r"), b);
    try {
      nn::read_idx(dir.file("r"));
      ++ok;
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(ok + errors == 300);
  CHECK(errors > 100);
}
