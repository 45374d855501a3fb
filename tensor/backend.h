// Backend (internal): one implementation per device kind, one virtual per kernel (tensor/backend.def
// lists them). Kernels take tensors that the op layer has already checked (shapes, dtypes,
// devices) and the plain parameter structs of flowgrad/detail/params.h. Users reach devices
// through flowgrad/tensor/device.h and kernels through the op API.
#pragma once
#include <cstdint>
#include <vector>

#include "flowgrad/detail/params.h"
#include "flowgrad/tensor/device.h"
#include "flowgrad/tensor/ops.h"
#include "tensor/ops_internal.h"
#include "flowgrad/tensor/tensor.h"

namespace fg {


class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // memory
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() {}  // waits for queued work (timing); the CPU runs synchronously
  virtual size_t peak_memory_bytes() { return 0; }  // device memory high-water mark (0: not tracked)

  // How this backend runs conv p of dtype t in direction d: whether the op layer should rewrite it as a 1x1
  // conv plus tap_sum (tensor/ops_internal.h), whether the kernel it picks is fast (not a reference
  // fallback), and that kernel's name. The CPU's answer comes from its planner (tensor/cpu/
  // conv_plan.h); a backend with one conv library runs everything there, unrewritten.
  struct ConvChoice {
    bool taps = false, fast = true;
    const char* kernel = "";
  };
  virtual ConvChoice conv_choice(const Conv2dParams& /*p*/, DType /*t*/, ConvDir /*d*/) { return {false, true, name()}; }
  // The channel block of the layout this backend prefers for conv chains of dtype t
  // (ConvOptions::src_block/dst_block), 0 when it takes NCHW only.
  virtual int64_t conv_channel_block(DType /*t*/) { return 0; }

  // kernels
#define FG_BACKEND_OP(name, params) virtual void name params = 0;
#include "tensor/backend.def"
#undef FG_BACKEND_OP
};

// The backend for a device, cached per device. Throws fg::Error naming the device when it is not
// available (CUDA not built, or no GPU present, with the reason).
Backend& backend_of(Device d);
// backend_of plus one count in the launch counter: ops.h calls this once per kernel it runs.
Backend& launch(Device d);
// Registers a backend for a device kind (the CUDA backend does this when it is built): a factory
// per device index, and whether that index is usable (else the reason in *why).
void register_backend(Device::Kind kind, Backend* (*factory)(int index), bool (*available)(int index, std::string* why));
// An entry point of the CUDA backend module (loading it if needed: the NCCL communicator's
// factory, dist/session.cpp), or null with the reason in *why.
void* cuda_module_symbol(const char* name, std::string* why);

}  // namespace fg
