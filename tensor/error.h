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

}  // namespace fg

#define FG_CHECK(cond, ...)                                   \
  do {                                                        \
    if (!(cond)) ::fg::fail(::fmt::format(__VA_ARGS__));      \
  } while (0)
