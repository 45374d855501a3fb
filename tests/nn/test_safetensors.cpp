// safetensors: the on-disk layout matches the spec (so Python can read it), every dtype round-trips,
// saves are atomic, and the loader rejects each kind of malformed file with a message naming the
// file and the tensor; random corruption never crashes.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "io_test_util.h"
#include "flowgrad/nn/atomic_file.h"
#include "nn/fault.h"
#include "flowgrad/nn/safetensors.h"
#include "test_support.h"
#include "flowgrad/tensor/ops.h"

using namespace fg;
using fg::test::TempDir;
using fg::test::write_bytes;

namespace {

// A file built by hand from a header string and data bytes (the header is not padded).
std::vector<uint8_t> st_bytes(const std::string& header, const std::vector<uint8_t>& data, int64_t len = -1) {
  uint64_t n = len >= 0 ? static_cast<uint64_t>(len) : header.size();
  std::vector<uint8_t> b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::string error_of(const std::string& path) {
  try {
    nn::load_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

}  // namespace

TEST_CASE("safetensors: every dtype, scalars, empty tensors and metadata round-trip") {
  TempDir dir;
  std::map<std::string, Tensor> ts;
  ts["a.weight"] = from_vector<float>({1.5f, -2.f, 3.25f, 0.f, 1e-30f, 7.f}, {2, 3});
  ts["b"] = from_vector<double>({3.141592653589793, -1e300}, {2});
  ts["step"] = from_vector<int32_t>({-7}, {});
  ts["mask"] = from_vector<uint8_t>({0, 1, 255}, {3, 1});
  ts["empty"] = Tensor::empty({0, 4}, DType::F32);
  std::map<std::string, std::string> meta = {{"config", "{\"k\": 1}"}, {"format", "pt"}};
  std::string path = dir.file("ck.safetensors");
  nn::save_safetensors(path, ts, meta);
  auto f = nn::load_safetensors(path);
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == ts.size());
  for (const auto& [name, t] : ts) {
    INFO(name);
    const Tensor& u = f.tensors.at(name);
    CHECK(u.dtype() == t.dtype());
    CHECK(u.shape() == t.shape());
    CHECK(u.nbytes() == t.nbytes());
    if (t.nbytes()) CHECK(std::memcmp(u.raw(), t.raw(), t.nbytes()) == 0);
  }
  CHECK(dir.count_files() == 1);
}

TEST_CASE("safetensors: the layout is the spec's (LE length, padded JSON header, packed data)") {
  TempDir dir;
  std::string path = dir.file("x.safetensors");
  nn::save_safetensors(path, {{"w", from_vector<float>({1.f, 2.f}, {2})}, {"b", from_vector<uint8_t>({9}, {1})}},
                       {{"k", "v"}});
  auto raw = fg::test::read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{raw[i]} << (8 * i);
  CHECK(n % 8 == 0);
  REQUIRE(raw.size() == 8 + n + 9);
  auto j = nlohmann::json::parse(std::string(raw.begin() + 8, raw.begin() + 8 + n));
  CHECK(j["b"]["dtype"] == "U8");
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({0, 1}));
  CHECK(j["w"]["dtype"] == "F32");
  CHECK(j["w"]["shape"] == nlohmann::json::array({2}));
  CHECK(j["w"]["data_offsets"] == nlohmann::json::array({1, 9}));
  CHECK(j["__metadata__"]["k"] == "v");
  float w1;
  std::memcpy(&w1, raw.data() + 8 + n + 1 + 4, 4);
  CHECK(w1 == 2.f);
}

TEST_CASE("safetensors: a hand-made file in the spec's format loads; dtype spelling is case-insensitive") {
  TempDir dir;
  float v[2] = {0.5f, -4.f};
  std::vector<uint8_t> data(8);
  std::memcpy(data.data(), v, 8);
  write_bytes(dir.file("h"), st_bytes(R"({"x":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", data));
  auto f = nn::load_safetensors(dir.file("h"));
  CHECK(f.tensors.at("x").to_vector<float>() == std::vector<float>{0.5f, -4.f});
  CHECK(f.metadata.empty());
}

TEST_CASE("safetensors: saving is atomic; a failed save keeps the old file and leaves no temporaries") {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  nn::save_safetensors(path, {{"a", from_vector<float>({1.f}, {1})}});
  auto before = fg::test::read_bytes(path);
  CHECK_THROWS_WITH_AS(nn::save_safetensors(path, {{"a", from_vector<float>({2.f}, {1})}, {"bad", Tensor()}}),
                       doctest::Contains("tensor 'bad' is undefined"), Error);
  CHECK_THROWS_WITH_AS(nn::save_safetensors(path, {{"__metadata__", from_vector<float>({2.f}, {1})}}),
                       doctest::Contains("reserved"), Error);
  CHECK(fg::test::read_bytes(path) == before);
  CHECK(dir.count_files() == 1);
  nn::save_safetensors(path, {{"a", from_vector<float>({3.f}, {1})}});  // overwrite works
  CHECK(nn::load_safetensors(path).tensors.at("a").item() == 3.0);
  CHECK(dir.count_files() == 1);
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir.file("no/such/dir/x.safetensors"), {}),
                       doctest::Contains("does not exist"), Error);
}

TEST_CASE("safetensors: truncated files and bad header lengths") {
  TempDir dir;
  std::string good = dir.file("good");
  nn::save_safetensors(good, {{"w", from_vector<float>({1, 2, 3, 4}, {2, 2})}});
  auto raw = fg::test::read_bytes(good);
  write_bytes(dir.file("cut"), std::vector<uint8_t>(raw.begin(), raw.end() - 3));
  std::string e = error_of(dir.file("cut"));
  CHECK(has(e, dir.file("cut")));
  CHECK(has(e, "tensor 'w'"));
  CHECK(has(e, "past the end of the data section"));
  write_bytes(dir.file("cut2"), std::vector<uint8_t>(raw.begin(), raw.begin() + 20));
  CHECK(has(error_of(dir.file("cut2")), "exceeds the 12 bytes after the length field"));
  write_bytes(dir.file("tiny"), {1, 2, 3});
  CHECK(has(error_of(dir.file("tiny")), "too short for the 8-byte header length"));
  write_bytes(dir.file("huge"), st_bytes("{}", {}, int64_t{1} << 62));
  CHECK(has(error_of(dir.file("huge")), "exceeds"));
  CHECK(has(error_of(dir.file("missing")), "not found"));
}

TEST_CASE("safetensors: garbage headers are reported as JSON errors or wrong types") {
  TempDir dir;
  write_bytes(dir.file("j"), st_bytes("{\"w\": {\"dtype\": ", {}));
  CHECK(has(error_of(dir.file("j")), "not valid JSON"));
  write_bytes(dir.file("bin"), st_bytes(std::string("\x01\xff\xfe garbage", 11), {}));
  CHECK(has(error_of(dir.file("bin")), "not valid JSON"));
  write_bytes(dir.file("arr"), st_bytes("[1, 2, 3]", {}));
  CHECK(has(error_of(dir.file("arr")), "must be a JSON object, found a JSON array"));
  write_bytes(dir.file("meta"), st_bytes(R"({"__metadata__": {"epoch": 3}})", {}));
  CHECK(has(error_of(dir.file("meta")), "__metadata__ 'epoch' must be a string"));
  write_bytes(dir.file("entry"), st_bytes(R"({"w": [1, 2]})", {}));
  CHECK(has(error_of(dir.file("entry")), "tensor 'w': entry must be an object"));
}

TEST_CASE("safetensors: bad entries name the tensor; all problems are listed together") {
  TempDir dir;
  std::vector<uint8_t> d16(16, 0);
  auto err = [&](const std::string& header, const std::vector<uint8_t>& data) {
    write_bytes(dir.file("f"), st_bytes(header, data));
    return error_of(dir.file("f"));
  };
  CHECK(has(err(R"({"h": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}})", d16),
            "tensor 'h': dtype 'F16' is not supported"));
  CHECK(has(err(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}})", d16),
            "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 16] span 16"));
  CHECK(has(err(R"({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", d16),
            "not a non-negative integer"));
  CHECK(has(err(R"({"w": {"dtype": "F32", "shape": [4]}})", d16), "'data_offsets' must be [begin, end]"));
  CHECK(has(err(R"({"w": {"shape": [4], "data_offsets": [0, 16]}})", d16), "missing or non-string 'dtype'"));
  CHECK(
      has(err(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], "x": 1}})", d16), "unknown field 'x'"));
  CHECK(has(err(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 4]}})", d16), "end before they begin"));
  CHECK(has(
      err(R"({"w": {"dtype": "F32", "shape": [4000000000, 4000000000, 4000000000], "data_offsets": [0, 16]}})", d16),
      "needs over 2^64 bytes"));
  std::string overlap = err(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                            d16);
  CHECK(has(overlap, "tensor 'b': data_offsets [8, 16] overlap tensor 'a' [0, 12]"));
  CHECK(has(err(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]},
                    "b": {"dtype": "U8", "shape": [8], "data_offsets": [8, 16]}})",
                d16),
            "tensor 'a': data_offsets [4, 8] leave a hole of 4 bytes"));
  CHECK(has(err(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}})", d16),
            "8 bytes of data after the last tensor"));
  std::string many = err(R"({"a": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]},
                             "b": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]},
                             "__metadata__": {"x": null}})",
                         d16);
  CHECK(has(many, "3 problems"));
  CHECK(has(many, dir.file("f")));
  CHECK(has(many, "tensor 'a'"));
  CHECK(has(many, "tensor 'b'"));
  CHECK(has(many, "__metadata__ 'x'"));
}

TEST_CASE("safetensors: random corruption of a valid file never crashes, only throws fg::Error") {
  TempDir dir;
  std::string good = dir.file("good");
  nn::save_safetensors(
      good, {{"w", from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})}, {"n", from_vector<int32_t>({1, 2}, {2})}},
      {{"a", "b"}});
  auto raw = fg::test::read_bytes(good);
  std::mt19937 rng(99);
  int errors = 0;
  for (int it = 0; it < 300; ++it) {
    auto b = raw;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) b[rng() % std::min<size_t>(b.size(), 8 + 160)] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    write_bytes(dir.file("r"), b);
    try {
      nn::load_safetensors(dir.file("r"));
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors > 100);
}

TEST_CASE("safetensors: every tensor carries a CRC32; a flipped byte in the data names the tensor") {
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  nn::save_safetensors(path, {{"a", from_vector<float>({1, 2, 3, 4}, {4})}, {"b", from_vector<float>({5, 6}, {2})}},
                       {{"k", "v"}});
  auto f = nn::load_safetensors(path);
  CHECK(f.metadata == std::map<std::string, std::string>{{"k", "v"}});  // checksums are not metadata
  auto raw = fg::test::read_bytes(path);
  raw[raw.size() - 2] ^= 0x10;  // inside b's data
  write_bytes(dir.file("flipped"), raw);
  std::string e = error_of(dir.file("flipped"));
  CHECK(has(e, "corrupt data"));
  CHECK(has(e, "tensor 'b'"));
  CHECK_FALSE(has(e, "tensor 'a'"));
}

TEST_CASE("safetensors: errors list three problems and count the rest; bytes from the file are escaped") {
  TempDir dir;
  std::string header = "{";
  for (int i = 0; i < 12; ++i) header += fmt::format("{}\"t{}\": {{\"dtype\": \"F99\", \"shape\": [1], \"data_offsets\": [0, 4]}}", i ? "," : "", i);
  header += ",\"bad\\u0001n\\u00e9me\": 7}";  // a control character and a non-ASCII letter in a name
  write_bytes(dir.file("many"), st_bytes(header, std::vector<uint8_t>(4, 0)));
  std::string e = error_of(dir.file("many"));
  INFO(e);
  CHECK(has(e, "13 problems"));
  CHECK(has(e, "... and 10 more"));
  CHECK(std::count(e.begin(), e.end(), '\n') <= 4);
  for (unsigned char c : e) CHECK((c == '\n' || (c >= 0x20 && c < 0x7f)));
  CHECK(fg::printable("ok\x01\xff") == "ok\\x01\\xff");
}

TEST_CASE("atomic writes under injected faults: the old file survives, the temporary is cleaned or cleanable") {
  TempDir dir;
  std::string path = dir.file("f.bin");
  nn::atomic_write_file(path, std::string_view("old"));
  auto with_fault = [&](const char* fault, auto&& body) {
    setenv("FG_FAULT", fault, 1);
    nn::reload_faults();
    body();
    unsetenv("FG_FAULT");
    nn::reload_faults();
  };
  // an error after the data is written and synced, before the rename: the target is untouched
  // (a writer that wrote straight into the target would fail this), the temporary removed
  with_fault("atomic_write.fail_before_rename", [&] {
    CHECK_THROWS_WITH_AS(nn::atomic_write_file(path, std::string_view("new")), doctest::Contains("f.bin"), Error);
  });
  CHECK(fg::test::read_bytes(path) == std::vector<uint8_t>{'o', 'l', 'd'});
  CHECK(dir.count_files() == 1);
  // disk full on the first write: the error says so and names the file
  with_fault("atomic_write.enospc=f.bin", [&] {
    CHECK_THROWS_WITH_AS(nn::atomic_write_file(path, std::string_view("new")), doctest::Contains("No space left"), Error);
  });
  CHECK(fg::test::read_bytes(path) == std::vector<uint8_t>{'o', 'l', 'd'});
  CHECK(dir.count_files() == 1);
  // a kill at that moment (abort in a child): the target is untouched, a temporary is left, and
  // remove_stale_temporaries clears it
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // die like a killed program, not through doctest's crash report
    setenv("FG_FAULT", "atomic_write.abort_before_rename", 1);
    nn::reload_faults();
    nn::atomic_write_file(path, std::string_view("new"));
    _exit(0);  // not reached
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFSIGNALED(st));
  CHECK(fg::test::read_bytes(path) == std::vector<uint8_t>{'o', 'l', 'd'});
  CHECK(dir.count_files() == 2);
  CHECK(nn::remove_stale_temporaries(dir.path.string()) == 1);
  CHECK(dir.count_files() == 1);
  nn::atomic_write_file(path, std::string_view("new"));  // without faults it goes through
  CHECK(fg::test::read_bytes(path) == std::vector<uint8_t>{'n', 'e', 'w'});
}

TEST_CASE("an independent reader written from the spec (Python, numpy) opens our checkpoints and agrees") {
  const char* src = std::getenv("FLOWGRAD_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "FLOWGRAD_SOURCE_DIR is not set (meson sets it)");
  TempDir dir;
  std::string path = dir.file("ck.safetensors");
  Generator g(4);
  std::map<std::string, Tensor> ts{{"model.w", randn({3, 5}, DType::F32, Device::cpu(), &g)},
                                   {"model.d", randn({7}, DType::F64, Device::cpu(), &g)},
                                   {"optim.step", from_vector<int32_t>({12}, {1})},
                                   {"model.flag", from_vector<uint8_t>({1}, {})}};
  nn::save_safetensors(path, ts, {{"config", "{\"model\": \"simple\"}"}});
  auto r = fg::test::run_command("/usr/bin/python3 " + std::string(src) + "/tests/nn/read_safetensors.py " + path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.output);
  CHECK(j["metadata"]["config"] == "{\"model\": \"simple\"}");
  REQUIRE(j["tensors"].size() == ts.size());
  for (auto& [name, t] : ts) {
    INFO(name);
    auto e = j["tensors"][name];
    CHECK(e["dtype"] == nn::safetensors_dtype(t.dtype()));
    CHECK(e["shape"].get<std::vector<int64_t>>() == t.shape());
    CHECK(e["sum"].get<double>() == doctest::Approx(sum(t.to(DType::F64)).item()).epsilon(1e-12));
    CHECK(e["first"][0].get<double>() == t.to_vector<double>()[0]);
    CHECK(e["crc_ok"] == true);
  }
}
