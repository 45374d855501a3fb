// Backend: one implementation per device kind, one virtual per kernel (tensor/backend.def lists
// them). Kernels take tensors that ops.h has already checked (shapes, dtypes, devices) and the
// plain parameter structs of tensor/params.h.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/params.h"
#include "tensor/tensor.h"

namespace fg {

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);
// What a unary op's backward reads (elementwise.def's `saves`).
bool unary_saves_x(UnaryOp op);
bool unary_saves_y(UnaryOp op);
bool binary_saves_inputs(BinaryOp op);  // elementwise.def's AB
constexpr int kGradAIsG = 1, kGradBIsG = 2;
int binary_grad_flags(BinaryOp op);

struct AdamTensors {
  std::vector<Tensor*> params, exp_avg, exp_avg_sq;
  std::vector<const Tensor*> grads;
};

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
bool device_available(Device d, std::string* why = nullptr);
// The backend's name for a device ("cpu", "cuda", "cuda-emulated"), or "unavailable".
std::string backend_name(Device d);

// TF32 tensor-core math for f32 convolutions and matmuls on GPUs (PyTorch's allow_tf32): off by
// default so that f32 results match the CPU's; FG_ALLOW_TF32=1 turns it on for a process.
void set_allow_tf32(bool on);
bool allow_tf32();

}  // namespace fg
