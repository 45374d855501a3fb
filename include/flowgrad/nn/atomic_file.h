// Atomic file writes: the content goes to a temporary file in the destination's directory, which
// is flushed, fsync'ed and renamed over the destination; the directory is fsync'ed last. A crash
// or an error at any point leaves the old file (if any) untouched; an error leaves no temporary
// behind, a kill inside the write may (remove_stale_temporaries clears them at the next start).
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

// Removes the temporaries that writes into `dir` left behind when the process was killed inside
// them (".<name>.tmp.XXXXXX"); returns how many. Programs call it before writing there.
int remove_stale_temporaries(const std::string& dir);

// fwrite that throws fg::Error naming `path` on a short write (for use inside the callback).
void write_all(std::FILE* f, const void* data, size_t n, const std::string& path);

}  // namespace fg::nn
