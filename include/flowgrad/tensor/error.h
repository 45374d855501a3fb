// Errors: every check in the library throws fg::Error with a message that names the op and the
// offending shapes/values. FG_CHECK formats lazily with fmt, so checks cost nothing when they pass.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>
#include <string>

namespace fg {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& msg) { throw Error(msg); }

// Text that came from a file, made safe for an error message: printable ASCII is kept, any other
// byte becomes \xNN, and at most max_len characters are kept (then "...").
inline std::string printable(const std::string& s, size_t max_len = 80) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max_len; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  if (out.size() >= max_len && s.size() > max_len) out += "...";
  return out;
}

}  // namespace fg

#define FG_CHECK(cond, ...)                                   \
  do {                                                        \
    if (!(cond)) ::fg::fail(::fmt::format(__VA_ARGS__));      \
  } while (0)
