// Atomic file writes: the content goes to a temporary file in the destination's directory, which
// is flushed, fsync'ed and renamed over the destination; the directory is fsync'ed last. A crash
// or an error at any point leaves the old file (if any) untouched and no temporary behind.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace fg::nn {

// `write` fills the open FILE* (binary mode). Throws fg::Error naming `path` if anything fails
// (including an exception thrown by `write`, which is rethrown after the temporary is removed).
void atomic_write_file(const std::string& path, const std::function<void(std::FILE*)>& write);
void atomic_write_file(const std::string& path, std::string_view bytes);

// fwrite that throws fg::Error naming `path` on a short write (for use inside the callback).
void write_all(std::FILE* f, const void* data, size_t n, const std::string& path);

}  // namespace fg::nn
