// Atomic file writes: temp file in the same directory, write, fflush, fsync, rename, fsync dir.
#include "flowgrad/nn/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "nn/fault.h"
#include "flowgrad/tensor/error.h"

namespace fg::nn {
namespace {

std::string err_str() {
  return std::strerror(errno);
}

// Closes and removes the temporary unless released (when the rename succeeded).
struct TempGuard {
  std::FILE* f = nullptr;
  std::string tmp;
  bool active = true;
  ~TempGuard() {
    if (f) std::fclose(f);
    if (active && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems do not allow opening directories
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_all(std::FILE* f, const void* data, size_t n, const std::string& path) {
  if (n == 0) return;
  if (fault_armed_for("atomic_write.enospc", path)) {
    errno = ENOSPC;
    fail(fmt::format("{}: write failed after 0 of {} bytes: {}", path, n, err_str()));
  }
  size_t w = std::fwrite(data, 1, n, f);
  FG_CHECK(w == n, "{}: write failed after {} of {} bytes: {}", path, w, n, err_str());
}

void atomic_write_file(const std::string& path, const std::function<void(std::FILE*)>& write) {
  namespace fs = std::filesystem;
  FG_CHECK(!path.empty(), "atomic_write_file: empty path");
  fs::path p(path);
  fs::path dir = p.parent_path();
  std::string dir_s = dir.empty() ? std::string(".") : dir.string();
  std::error_code ec;
  FG_CHECK(fs::is_directory(dir_s, ec), "{}: cannot write, directory '{}' does not exist", path, dir_s);
  FG_CHECK(!fs::is_directory(p, ec), "{}: cannot write, the path is a directory", path);

  TempGuard g;
  std::string tmpl = (fs::path(dir_s) / fmt::format(".{}.tmp.XXXXXX", p.filename().string())).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  FG_CHECK(fd >= 0, "{}: cannot create a temporary file in '{}': {}", path, dir_s, err_str());
  g.tmp = buf.data();
  ::fchmod(fd, 0644);  // mkstemp makes 0600; checkpoints and images are ordinary files
  g.f = ::fdopen(fd, "wb");
  if (!g.f) {
    ::close(fd);
    fail(fmt::format("{}: cannot open the temporary file {}: {}", path, g.tmp, err_str()));
  }
  write(g.f);
  FG_CHECK(std::fflush(g.f) == 0, "{}: flushing {} failed: {}", path, g.tmp, err_str());
  FG_CHECK(::fsync(::fileno(g.f)) == 0, "{}: fsync of {} failed: {}", path, g.tmp, err_str());
  int rc = std::fclose(g.f);
  g.f = nullptr;
  FG_CHECK(rc == 0, "{}: closing {} failed: {}", path, g.tmp, err_str());
  if (fault_armed_for("atomic_write.abort_before_rename", path)) std::abort();
  if (fault_armed_for("atomic_write.fail_before_rename", path))
    fail(fmt::format("{}: renaming {} over it failed: injected fault", path, g.tmp));
  FG_CHECK(std::rename(g.tmp.c_str(), path.c_str()) == 0, "{}: renaming {} over it failed: {}", path, g.tmp, err_str());
  g.active = false;
  fsync_dir(dir_s);
}

int remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int n = 0;
  if (!fs::is_directory(dir, ec)) return 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    // ".<target>.tmp.XXXXXX", as atomic_write_file names its temporaries
    if (name.size() > 12 && name[0] == '.' && name.compare(name.size() - 11, 5, ".tmp.") == 0 && e.is_regular_file(ec))
      if (fs::remove(e.path(), ec)) ++n;
  }
  return n;
}

void atomic_write_file(const std::string& path, std::string_view bytes) {
  atomic_write_file(path, [&](std::FILE* f) { write_all(f, bytes.data(), bytes.size(), path); });
}

}  // namespace fg::nn
