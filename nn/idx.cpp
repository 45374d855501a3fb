// IDX reader/writer. Raw files are size-checked against the header before anything is allocated;
// gzip files are inflated in chunks (never more than the header promises plus one byte), so a
// garbage header cannot make us allocate or read without bound.
#include "flowgrad/nn/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "flowgrad/nn/atomic_file.h"

namespace fg::nn {
namespace {

constexpr int kMaxDims = 16;
constexpr uint64_t kMaxBytes = uint64_t{1} << 40;  // sanity bound on the header's promise

// A byte source: raw stdio or zlib's gz stream. read() returns bytes read (< n only at the end).
struct Source {
  std::string path;
  bool gzip = false;
  std::FILE* f = nullptr;
  gzFile gz = nullptr;
  ~Source() {
    if (f) std::fclose(f);
    if (gz) gzclose(gz);
  }
  size_t read(void* dst, size_t n) {
    if (!gzip) {
      size_t got = std::fread(dst, 1, n, f);
      FG_CHECK(got == n || !std::ferror(f), "{}: read error: {}", path, std::strerror(errno));
      return got;
    }
    size_t total = 0;
    auto* p = static_cast<unsigned char*>(dst);
    while (total < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, size_t{1} << 30));
      int got = gzread(gz, p + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(gz, &code);
        fail(fmt::format("{}: corrupt or truncated gzip data after {} decompressed bytes: {}", path, total_out + total,
                         msg ? msg : "unknown zlib error"));
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    total_out += total;
    return total;
  }
  uint64_t total_out = 0;
};

uint32_t be32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

const char* idx_type_name(unsigned t) {
  switch (t) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
  }
  return "unknown";
}

}  // namespace

Tensor read_idx(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  FG_CHECK(fs::exists(path, ec), "{}: IDX file not found", path);
  FG_CHECK(!fs::is_directory(path, ec), "{}: is a directory, expected an IDX file", path);
  Source src;
  src.path = path;
  src.f = std::fopen(path.c_str(), "rb");
  FG_CHECK(src.f, "{}: cannot open: {}", path, std::strerror(errno));
  unsigned char two[2] = {0, 0};
  size_t n2 = std::fread(two, 1, 2, src.f);
  uint64_t file_size = fs::file_size(path, ec);
  if (ec) file_size = 0;
  if (n2 == 2 && two[0] == 0x1f && two[1] == 0x8b) {
    std::fclose(src.f);
    src.f = nullptr;
    src.gzip = true;
    src.gz = gzopen(path.c_str(), "rb");
    FG_CHECK(src.gz, "{}: cannot open as gzip: {}", path, std::strerror(errno));
    gzbuffer(src.gz, 1 << 17);
  } else {
    std::rewind(src.f);
  }
  const char* kind = src.gzip ? " (gzip)" : "";

  unsigned char magic[4];
  size_t got = src.read(magic, 4);
  FG_CHECK(got == 4, "{}{}: not an IDX file: {} bytes, too short for the 4-byte magic number", path, kind, got);
  uint32_t m = be32(magic);
  FG_CHECK(magic[0] == 0 && magic[1] == 0,
           "{}{}: bad magic number 0x{:08x}: an IDX file starts with 0x0000TTDD (TT = type, DD = dims), "
           "e.g. 0x00000803 for images, 0x00000801 for labels",
           path, kind, m);
  unsigned type = magic[2], ndim = magic[3];
  FG_CHECK(type == 0x08,
           "{}{}: magic 0x{:08x}: IDX data type 0x{:02x} ({}) is not supported; only 0x08 (unsigned byte)", path, kind,
           m, type, idx_type_name(type));
  FG_CHECK(ndim >= 1 && ndim <= kMaxDims, "{}{}: magic 0x{:08x} declares {} dimensions; expected 1 to {}", path, kind,
           m, ndim, kMaxDims);

  std::vector<unsigned char> hdr(4 * ndim);
  got = src.read(hdr.data(), hdr.size());
  FG_CHECK(got == hdr.size(), "{}{}: truncated header: {} dimensions need {} bytes of sizes, found {}", path, kind,
           ndim, hdr.size(), got);
  Shape shape(ndim);
  uint64_t expected = 1;
  for (unsigned d = 0; d < ndim; ++d) {
    uint32_t s = be32(&hdr[4 * d]);
    FG_CHECK(s > 0, "{}{}: dimension {} of {} has size 0", path, kind, d, ndim);
    shape[d] = s;
    FG_CHECK(expected <= kMaxBytes / s, "{}{}: header shape {} is implausibly large (over 2^40 bytes)", path, kind,
             shape_str(Shape(shape.begin(), shape.begin() + d + 1)));
    expected *= s;
  }

  uint64_t header_bytes = 4 + 4 * uint64_t{ndim};
  if (!src.gzip) {
    uint64_t have = file_size >= header_bytes ? file_size - header_bytes : 0;
    FG_CHECK(have >= expected, "{}: expected {} bytes of data for shape {}, found {} (file truncated?)", path, expected,
             shape_str(shape), have);
    FG_CHECK(have == expected, "{}: expected {} bytes of data for shape {}, found {} ({} trailing bytes)", path,
             expected, shape_str(shape), have, have - expected);
    Tensor t = Tensor::empty(shape, DType::U8);
    got = src.read(t.raw(), expected);
    FG_CHECK(got == expected, "{}: expected {} bytes of data, read only {} (file changed while reading?)", path,
             expected, got);
    return t;
  }

  // gzip: inflate in chunks up to expected + 1 bytes, so truncation and trailing data are both seen
  std::vector<unsigned char> buf;
  buf.reserve(static_cast<size_t>(std::min<uint64_t>(expected + 1, uint64_t{16} << 20)));
  const size_t chunk = size_t{1} << 20;
  while (buf.size() < expected + 1) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, expected + 1 - buf.size()));
    size_t old = buf.size();
    buf.resize(old + want);
    size_t n = src.read(buf.data() + old, want);
    buf.resize(old + n);
    if (n < want) break;
  }
  FG_CHECK(buf.size() >= expected, "{} (gzip): expected {} bytes of data for shape {}, found {} (file truncated?)",
           path, expected, shape_str(shape), buf.size());
  if (buf.size() > expected) {
    unsigned char sink[1 << 12];
    uint64_t extra = buf.size() - expected;
    for (size_t n; (n = src.read(sink, sizeof sink)) > 0;) extra += n;
    fail(fmt::format("{} (gzip): expected {} bytes of data for shape {}, found {} ({} trailing bytes)", path, expected,
                     shape_str(shape), expected + extra, extra));
  }
  Tensor t = Tensor::empty(shape, DType::U8);
  std::memcpy(t.raw(), buf.data(), expected);
  return t;
}

void write_idx(const std::string& path, const Tensor& t) {
  FG_CHECK(t.defined(), "write_idx {}: undefined tensor", path);
  FG_CHECK(t.dtype() == DType::U8, "write_idx {}: tensor is {}, expected u8", path, dtype_name(t.dtype()));
  FG_CHECK(t.dim() >= 1 && t.dim() <= kMaxDims, "write_idx {}: {} dimensions, expected 1 to {}", path, t.dim(),
           kMaxDims);
  Tensor h = t.to(Device::cpu());
  std::vector<unsigned char> hdr = {0, 0, 0x08, static_cast<unsigned char>(t.dim())};
  for (int64_t s : t.shape()) {
    FG_CHECK(s > 0 && s <= 0xffffffffLL, "write_idx {}: dimension size {} out of range", path, s);
    for (int k = 3; k >= 0; --k) hdr.push_back(static_cast<unsigned char>((s >> (8 * k)) & 0xff));
  }
  atomic_write_file(path, [&](std::FILE* f) {
    write_all(f, hdr.data(), hdr.size(), path);
    write_all(f, h.raw(), h.nbytes(), path);
  });
}

}  // namespace fg::nn
