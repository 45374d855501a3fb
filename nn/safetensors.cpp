// safetensors writer and validating reader. The reader checks the whole header before allocating
// any tensor, collects every problem it finds, and reads each tensor's bytes straight from the file.
#include "flowgrad/nn/safetensors.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>
#include <zlib.h>

#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/tensor/error.h"

namespace fg::nn {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit
constexpr size_t kMaxReported = 3;             // problems listed in an error; the rest are counted
constexpr const char* kCrcPrefix = "crc32.";   // __metadata__ keys of the per-tensor checksums

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Reads `n` bytes at `offset` of an open file; throws naming the file on failure.
void read_at(std::FILE* f, uint64_t offset, void* dst, size_t n, const std::string& path, const std::string& what) {
  if (n == 0) return;
  FG_CHECK(fseeko(f, static_cast<off_t>(offset), SEEK_SET) == 0, "{}: seek to {} for {} failed: {}", path, offset, what,
           std::strerror(errno));
  size_t got = std::fread(dst, 1, n, f);
  FG_CHECK(got == n, "{}: reading {}: expected {} bytes at offset {}, got {}", path, what, n, offset, got);
}

struct FileCloser {
  std::FILE* f;
  ~FileCloser() {
    if (f) std::fclose(f);
  }
};

uint32_t crc_of(const Tensor& t) {
  return static_cast<uint32_t>(crc32(0L, static_cast<const Bytef*>(t.raw()), static_cast<uInt>(t.nbytes())));
}

}  // namespace

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I32:
      return "I32";
    case DType::U8:
      return "U8";
  }
  return "?";
}

bool parse_safetensors_dtype(const std::string& s, DType& out) {
  std::string u = s;
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::U8}) {
    if (u == safetensors_dtype(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    FG_CHECK(name != "__metadata__", "save_safetensors {}: '__metadata__' is reserved and cannot name a tensor", path);
    FG_CHECK(t.defined(), "save_safetensors {}: tensor '{}' is undefined", path, name);
    host.push_back(t.to(Device::cpu()));
    uint64_t n = t.nbytes();
    header[name] = {
        {"dtype", safetensors_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::map<std::string, std::string> meta = metadata;
  for (size_t i = 0; i < host.size(); ++i) {
    const std::string& name = std::next(tensors.begin(), static_cast<std::ptrdiff_t>(i))->first;
    meta[kCrcPrefix + name] = fmt::format("{:08x}", crc_of(host[i]));
  }
  if (!meta.empty()) header["__metadata__"] = meta;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name or value that is not valid UTF-8
    fail(fmt::format("save_safetensors {}: cannot encode the header: {}", path, e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  atomic_write_file(path, [&](std::FILE* f) {
    write_all(f, len, 8, path);
    write_all(f, text.data(), text.size(), path);
    for (const Tensor& t : host) write_all(f, t.raw(), t.nbytes(), path);
  });
}

SafetensorsFile load_safetensors(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  FG_CHECK(fs::exists(path, ec), "{}: checkpoint file not found", path);
  FG_CHECK(fs::is_regular_file(path, ec), "{}: not a regular file", path);
  uint64_t file_size = fs::file_size(path, ec);
  FG_CHECK(!ec, "{}: cannot get the file size: {}", path, ec.message());
  FileCloser fc{std::fopen(path.c_str(), "rb")};
  FG_CHECK(fc.f, "{}: cannot open: {}", path, std::strerror(errno));

  FG_CHECK(file_size >= 8, "{}: not a safetensors file: {} bytes, too short for the 8-byte header length", path,
           file_size);
  unsigned char len[8];
  read_at(fc.f, 0, len, 8, path, "the header length");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= uint64_t{len[i]} << (8 * i);
  FG_CHECK(hlen <= file_size - 8,
           "{}: header length {} exceeds the {} bytes after the length field (truncated or not a safetensors file)",
           path, hlen, file_size - 8);
  FG_CHECK(hlen <= kMaxHeader, "{}: header length {} is over the 100 MiB limit", path, hlen);
  FG_CHECK(hlen >= 2, "{}: header length {} is too short for a JSON object", path, hlen);
  std::string text(hlen, '\0');
  read_at(fc.f, 8, text.data(), hlen, path, "the header");

  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(fmt::format("{}: the header is not valid JSON (byte {} of {}): {}", path, e.byte, hlen, printable(e.what(), 160)));
  } catch (const json::exception& e) {  // e.g. out_of_range for a number too large (found by fuzzing)
    fail(fmt::format("{}: the header is not usable JSON: {}", path, printable(e.what(), 160)));
  }
  FG_CHECK(header.is_object(), "{}: the header must be a JSON object, found a JSON {}", path, header.type_name());

  const uint64_t data_size = file_size - 8 - hlen;
  std::vector<std::string> problems;
  auto problem = [&](std::string s) { problems.push_back(std::move(s)); };
  SafetensorsFile out;
  std::vector<Entry> entries;

  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) {
        problem(fmt::format("__metadata__ must be an object of strings, found a JSON {}", v.type_name()));
        continue;
      }
      for (const auto& [k, mv] : v.items()) {
        if (mv.is_string())
          out.metadata[k] = mv.get<std::string>();
        else
          problem(fmt::format("__metadata__ '{}' must be a string, found a JSON {}", printable(k), mv.type_name()));
      }
      continue;
    }
    std::string who = fmt::format("tensor '{}'", printable(name));
    if (!v.is_object()) {
      problem(fmt::format("{}: entry must be an object, found a JSON {}", who, v.type_name()));
      continue;
    }
    size_t before = problems.size();
    for (const auto& [k, unused] : v.items()) {
      (void)unused;
      if (k != "dtype" && k != "shape" && k != "data_offsets")
        problem(fmt::format("{}: unknown field '{}'", who, printable(k)));
    }
    Entry e;
    e.name = name;
    if (!v.contains("dtype") || !v["dtype"].is_string()) {
      problem(fmt::format("{}: missing or non-string 'dtype'", who));
    } else if (!parse_safetensors_dtype(v["dtype"].get<std::string>(), e.dtype)) {
      problem(fmt::format("{}: dtype '{}' is not supported (expected F32, F64, I32 or U8)", who,
                          printable(v["dtype"].get<std::string>())));
    }
    if (!v.contains("shape") || !v["shape"].is_array()) {
      problem(fmt::format("{}: missing 'shape' or not an array", who));
    } else {
      for (const auto& d : v["shape"]) {
        if (!d.is_number_unsigned()) {
          problem(fmt::format("{}: shape {} has an entry that is not a non-negative integer", who,
                          printable(v["shape"].dump(), 60)));
          break;
        }
        e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
      }
    }
    const json* off = v.contains("data_offsets") ? &v["data_offsets"] : nullptr;
    if (!off || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      problem(fmt::format("{}: 'data_offsets' must be [begin, end] with non-negative integers, found {}", who,
                          off ? printable(off->dump(), 60) : "nothing"));
    } else {
      e.begin = (*off)[0].get<uint64_t>();
      e.end = (*off)[1].get<uint64_t>();
      if (e.end < e.begin)
        problem(fmt::format("{}: data_offsets [{}, {}] end before they begin", who, e.begin, e.end));
      else if (e.end > data_size)
        problem(
            fmt::format("{}: data_offsets [{}, {}] run past the end of the data section ({} bytes; file truncated?)",
                        who, e.begin, e.end, data_size));
    }
    if (problems.size() != before) continue;
    // shape x dtype size must equal the span, computed without overflow (saturating above 2^64)
    unsigned __int128 bytes = dtype_size(e.dtype);
    const unsigned __int128 cap = static_cast<unsigned __int128>(1) << 64;
    for (int64_t d : e.shape) bytes = std::min(cap, bytes * static_cast<uint64_t>(d));
    if (bytes != e.end - e.begin) {
      problem(fmt::format("{}: shape {} of {} needs {} bytes but data_offsets [{}, {}] span {}", who,
                          shape_str(e.shape), safetensors_dtype(e.dtype),
                          bytes >= cap ? std::string("over 2^64") : std::to_string(static_cast<uint64_t>(bytes)),
                          e.begin, e.end, e.end - e.begin));
      continue;
    }
    entries.push_back(std::move(e));
  }

  // the valid entries must tile the data section: no overlaps, no holes, nothing after the last
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos) {
      problem(fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", printable(e.name),
                          e.begin, e.end, printable(prev->name), prev->begin, prev->end));
    } else if (e.begin > pos) {
      problem(fmt::format("tensor '{}': data_offsets [{}, {}] leave a hole of {} bytes before it", printable(e.name),
                          e.begin, e.end, e.begin - pos));
    }
    if (e.end > pos) pos = e.end, prev = &e;
    if (!prev) prev = &e;
  }
  if (problems.empty() && pos != data_size)
    problem(fmt::format("{} bytes of data after the last tensor (the data section is {} bytes, tensors cover {})",
                        data_size - pos, data_size, pos));

  if (!problems.empty()) {
    std::string msg = fmt::format("{}: invalid safetensors file, {} problem{}:", path, problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (size_t i = 0; i < problems.size() && i < kMaxReported; ++i) msg += "\n  " + problems[i];
    if (problems.size() > kMaxReported) msg += fmt::format("\n  ... and {} more", problems.size() - kMaxReported);
    fail(msg);
  }
  std::vector<std::string> corrupt;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    read_at(fc.f, 8 + hlen + e.begin, t.raw(), t.nbytes(), path, fmt::format("tensor '{}'", printable(e.name)));
    // files from other writers have no checksums; ours always do
    if (auto c = out.metadata.find(kCrcPrefix + e.name); c != out.metadata.end()) {
      std::string got = fmt::format("{:08x}", crc_of(t));
      if (got != c->second)
        corrupt.push_back(fmt::format("tensor '{}' (stored crc32 {}, data {})", printable(e.name), printable(c->second, 16), got));
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  if (!corrupt.empty()) {
    std::string msg = fmt::format("{}: corrupt data: {} tensor{} fail{} the checksum:", path, corrupt.size(),
                                  corrupt.size() == 1 ? "" : "s", corrupt.size() == 1 ? "s" : "");
    for (size_t i = 0; i < corrupt.size() && i < kMaxReported; ++i) msg += "\n  " + corrupt[i];
    if (corrupt.size() > kMaxReported) msg += fmt::format("\n  ... and {} more", corrupt.size() - kMaxReported);
    fail(msg);
  }
  for (auto it = out.metadata.begin(); it != out.metadata.end();)  // checksums are the file's business
    it = it->first.rfind(kCrcPrefix, 0) == 0 ? out.metadata.erase(it) : std::next(it);
  return out;
}

}  // namespace fg::nn
