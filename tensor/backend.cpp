// Backend registry: the CPU backend always; other device kinds register a factory (the CUDA
// backend does when it is built) and say whether a device is present.
#include "tensor/backend.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "tensor/counters.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/random.h"

namespace fg {

namespace {
struct Registered {
  Backend* (*factory)(int) = nullptr;
  bool (*available)(std::string*) = nullptr;
};
std::map<Device::Kind, Registered>& registry() {
  static std::map<Device::Kind, Registered> r;
  return r;
}
}  // namespace

const char* unary_name(UnaryOp op) {
  switch (op) {
#define FG_UNARY(Name, expr) \
  case UnaryOp::Name: return #Name;
#include "tensor/elementwise.def"
#undef FG_UNARY
  }
  return "?";
}

const char* binary_name(BinaryOp op) {
  switch (op) {
#define FG_BINARY(Name, expr) \
  case BinaryOp::Name: return #Name;
#include "tensor/elementwise.def"
#undef FG_BINARY
  }
  return "?";
}

void register_backend(Device::Kind kind, Backend* (*factory)(int), bool (*available)(std::string*)) {
  registry()[kind] = {factory, available};
}

bool device_available(Device d, std::string* why) {
  if (d.is_cpu()) return true;
  auto it = registry().find(d.kind);
  if (it == registry().end()) {
    if (why) *why = "flowgrad was built without the CUDA backend (nvcc/cuDNN not found at build time)";
    return false;
  }
  return it->second.available(why);
}

Backend& backend_for(Device d) {
  count_launch();
  return backend_memory(d);
}

Backend& backend_memory(Device d) {
  if (d.is_cpu()) {
    static cpu::CpuBackend cpu_backend;
    return cpu_backend;
  }
  std::string why;
  FG_CHECK(device_available(d, &why), "device {} is not available: {}", d.str(), why);
  return *registry()[d.kind].factory(d.index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    char* end = nullptr;
    long i = std::strtol(s.c_str() + 5, &end, 10);
    if (end && *end == 0 && end != s.c_str() + 5 && i >= 0) return cuda(static_cast<int>(i));
  }
  fail(fmt::format("bad device '{}': expected cpu, cuda or cuda:N", s));
}

Generator& default_generator() {
  static Generator g;
  return g;
}

}  // namespace fg
