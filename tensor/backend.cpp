// Backend registry: the CPU backend always; other device kinds register a factory (the CUDA
// backend does when it is built) and say whether a device is present. Backends are created once
// per device and cached, so an op's dispatch is an array lookup.
// The CUDA backend is a module, libflowgrad_cuda.so, loaded the first time a cuda device is asked
// for: programs that stay on the CPU then never map the CUDA libraries, which took about 210 MB of
// resident memory at start-up (an empty program linked with cuDNN, cuBLAS and cudart: 219 MB RSS;
// with oneDNN and OpenMP alone: 6 MB). Where it is looked for: cuda_module_candidates() below.
// FG_EMULATE_CUDA=1 serves the cuda device kind with the CPU kernels on host memory that only
// kernels may touch (data<T>() refuses it as device memory): on a machine without a GPU, tests
// and programs then run their device paths (moving models and batches, checkpoints across
// devices, no host access to device data). It says nothing about the CUDA kernels themselves.
#include "tensor/backend.h"

#include <omp.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

#include "flowgrad/tensor/counters.h"
#include "tensor/cpu/cpu_backend.h"
#include "flowgrad/tensor/random.h"
#ifdef FG_HAVE_CUDA
#include <dlfcn.h>

#include <filesystem>
#include <vector>
#endif

namespace fg {

namespace {
struct Registered {
  Backend* (*factory)(int) = nullptr;
  bool (*available)(int, std::string*) = nullptr;
};

class EmulatedBackend final : public cpu::CpuBackend {
 public:
  const char* name() const override { return "cuda-emulated"; }
  // as the CUDA backend: NCHW conv chains, no rewrites
  ConvChoice conv_choice(const Conv2dParams&, DType, ConvDir) override { return {false, true, name()}; }
  int64_t conv_channel_block(DType) override { return 0; }
};
constexpr int kEmulatedDevices = 2;
bool emulated_available(int index, std::string* why) {
  if (index < kEmulatedDevices) return true;
  if (why) *why = fmt::format("cuda:{} does not exist ({} emulated devices)", index, kEmulatedDevices);
  return false;
}
Backend* make_emulated(int) { return new EmulatedBackend; }

bool env_on(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && std::string(e) != "0";
}

#ifdef FG_HAVE_CUDA
struct CudaModule {
  void* handle = nullptr;
  Backend* (*create)(int) = nullptr;
  bool (*available)(int, std::string*) = nullptr;
  std::string error;  // why there is none
};

// Where the module may be: $FG_CUDA_MODULE alone when set; otherwise relative to the file that
// holds this code (libflowgrad.so, or a program linked with the static library): its flowgrad/
// subdirectory (the installed layout, libdir/flowgrad/), the file's own directory and up to three
// above it (the build tree, where programs sit in build/apps/ and the module in build/; the device
// kit's flat layout), and prefix/libdir/flowgrad/ seen from a program installed in prefix/bin/.
std::vector<std::filesystem::path> cuda_module_candidates() {
  namespace fs = std::filesystem;
  const char* name = "libflowgrad_cuda.so";
  if (const char* e = std::getenv("FG_CUDA_MODULE"); e && *e) return {fs::path(e)};
  Dl_info info{};
  fs::path self;
  if (dladdr(reinterpret_cast<void*>(&cuda_module_candidates), &info) && info.dli_fname) {
    std::error_code ec;
    self = fs::canonical(info.dli_fname, ec);
  }
  if (self.empty()) {
    std::error_code ec;
    self = fs::read_symlink("/proc/self/exe", ec);
  }
  std::vector<fs::path> where;
  fs::path dir = self.parent_path();
  where.push_back(dir / "flowgrad" / name);
  for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path()) where.push_back(dir / name);
  where.push_back(self.parent_path().parent_path() / FG_INSTALL_LIBDIR / "flowgrad" / name);
  return where;
}

CudaModule load_cuda_module() {
  namespace fs = std::filesystem;
  const std::vector<fs::path> where = cuda_module_candidates();
  CudaModule m;
  for (const fs::path& p : where) {
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;
    void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      m.error = fmt::format("the CUDA backend module {} did not load: {}", p.string(), dlerror());
      return m;
    }
    m.handle = h;
    m.create = reinterpret_cast<Backend* (*)(int)>(dlsym(h, "fg_cuda_create_backend"));
    m.available = reinterpret_cast<bool (*)(int, std::string*)>(dlsym(h, "fg_cuda_device_available"));
    if (!m.create || !m.available) {
      m = {};
      m.error = fmt::format("{} is not a flowgrad CUDA backend module (no fg_cuda_* entry points)", p.string());
    }
    return m;
  }
  std::string tried;
  for (const fs::path& p : where) tried += (tried.empty() ? "" : ", ") + p.string();
  m.error = fmt::format("the CUDA backend module was not found (tried {}; set FG_CUDA_MODULE to its path)", tried);
  return m;
}

const CudaModule& cuda_module() {
  static const CudaModule m = load_cuda_module();
  return m;
}
bool cuda_available(int index, std::string* why) {
  const CudaModule& m = cuda_module();
  if (m.available) return m.available(index, why);
  if (why) *why = m.error;
  return false;
}
Backend* cuda_create(int index) { return cuda_module().create(index); }  // after cuda_available said yes
#endif
}  // namespace

void* cuda_module_symbol(const char* name, std::string* why) {
#ifdef FG_HAVE_CUDA
  const CudaModule& m = cuda_module();
  if (!m.handle) {
    if (why) *why = m.error;
    return nullptr;
  }
  void* f = dlsym(m.handle, name);
  if (!f && why) *why = fmt::format("the CUDA backend module has no {} (built without it?)", name);
  return f;
#else
  if (why) *why = fmt::format("this flowgrad was built without the CUDA backend (looking for {})", name);
  return nullptr;
#endif
}

namespace {

std::map<Device::Kind, Registered>& registry() {
  static std::map<Device::Kind, Registered> r = [] {
    std::map<Device::Kind, Registered> m;
    if (env_on("FG_EMULATE_CUDA")) m[Device::CUDA] = {make_emulated, emulated_available};
#ifdef FG_HAVE_CUDA
    else m[Device::CUDA] = {cuda_create, cuda_available};
#endif
    return m;
  }();
  return r;
}
std::atomic<bool> g_allow_tf32{env_on("FG_ALLOW_TF32")};
constexpr int kMaxDevices = 16;
std::array<std::atomic<Backend*>, kMaxDevices> g_cuda_backends{};
std::mutex g_create;

enum Saves { NONE = 0, X = 1, Y = 2, XY = 3, AB = 4 };
constexpr Saves kUnarySaves[] = {
#define FG_UNARY(Name, fn, np, saves, ...) saves,
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
};
constexpr Saves kBinarySaves[] = {
#define FG_BINARY(Name, fn, saves, ...) saves,
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
};
constexpr int kBinaryFlags[] = {
#define FG_BINARY(Name, fn, saves, fwd, ga, gb, flags, ...) flags,
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
};
}  // namespace

const char* unary_name(UnaryOp op) {
  switch (op) {
#define FG_UNARY(Name, fn, ...) \
  case UnaryOp::Name: return #fn;
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
  }
  return "?";
}

const char* binary_name(BinaryOp op) {
  switch (op) {
#define FG_BINARY(Name, fn, ...) \
  case BinaryOp::Name: return #fn;
#define FG_COMPARE(Name, fn, ...) \
  case BinaryOp::Name: return #fn;
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
#undef FG_COMPARE
  }
  return "?";
}

bool unary_saves_x(UnaryOp op) { return kUnarySaves[static_cast<int>(op)] & X; }
bool unary_saves_y(UnaryOp op) { return kUnarySaves[static_cast<int>(op)] & Y; }
bool binary_saves_inputs(BinaryOp op) {
  int i = static_cast<int>(op);
  return i < kNumDiffBinaryOps && kBinarySaves[i] == AB;
}
int binary_grad_flags(BinaryOp op) {
  int i = static_cast<int>(op);
  return i < kNumDiffBinaryOps ? kBinaryFlags[i] : 0;
}

void register_backend(Device::Kind kind, Backend* (*factory)(int), bool (*available)(int, std::string*)) {
  registry()[kind] = {factory, available};
}

std::string backend_name(Device d) { return device_available(d) ? backend_of(d).name() : "unavailable"; }

void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

bool device_available(Device d, std::string* why) {
  if (d.is_cpu()) return true;
  auto it = registry().find(d.kind);
  if (it == registry().end()) {
    if (why) *why = "flowgrad was built without the CUDA backend (nvcc/cuDNN not found at build time)";
    return false;
  }
  return it->second.available(d.index, why);
}

Backend& backend_of(Device d) {
  if (d.is_cpu()) {
    static cpu::CpuBackend cpu_backend;  // follows set_onednn_enabled / FG_ONEDNN
    return cpu_backend;
  }
  FG_CHECK(d.index >= 0 && d.index < kMaxDevices, "device {}: index out of range", d.str());
  if (Backend* b = g_cuda_backends[d.index].load(std::memory_order_acquire)) return *b;
  std::lock_guard<std::mutex> lock(g_create);
  if (Backend* b = g_cuda_backends[d.index].load()) return *b;
  std::string why;
  FG_CHECK(device_available(d, &why), "device {} is not available: {}", d.str(), why);
  Backend* b = registry()[d.kind].factory(d.index);
  g_cuda_backends[d.index].store(b, std::memory_order_release);
  return *b;
}

void synchronize(Device d) { backend_of(d).synchronize(); }
size_t peak_memory_bytes(Device d) { return backend_of(d).peak_memory_bytes(); }

void set_num_threads(int n) {
  FG_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got {}", n);
  omp_set_num_threads(n);
}
int num_threads() { return omp_get_max_threads(); }

Backend& launch(Device d) {
  count_launch();
  return backend_of(d);
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
