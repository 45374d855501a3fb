// Devices at run time: which are usable, waiting for queued work, device memory, and the
// process-wide settings of the backends (CPU threads, TF32 on GPUs).
#pragma once
#include <cstddef>
#include <string>

#include "flowgrad/tensor/dtype.h"

namespace fg {

// Whether d can be used: the CPU always; cuda:N when the CUDA backend was built and GPU N is
// present (else the reason in *why: not built, the module did not load, no driver, no such GPU).
bool device_available(Device d, std::string* why = nullptr);
// The backend serving d ("cpu", "cuda", "cuda-emulated"), or "unavailable".
std::string backend_name(Device d);
// Waits until the work queued on d has finished (timing); a no-op on the CPU, which runs
// synchronously. Throws naming d when it is not available.
void synchronize(Device d);
// High-water mark of d's device memory in bytes since the process started (0 where not tracked:
// the CPU; see flowgrad/tensor/counters.h for tensor memory on every device).
size_t peak_memory_bytes(Device d);

// CPU threads for flowgrad's own loops and oneDNN (default: OMP_NUM_THREADS, or all cores).
// Throws for n < 1.
void set_num_threads(int n);
int num_threads();

// TF32 tensor-core math for f32 convolutions and matmuls on GPUs (PyTorch's allow_tf32): off by
// default so that f32 results match the CPU's; FG_ALLOW_TF32=1 turns it on for a process.
void set_allow_tf32(bool on);
bool allow_tf32();

}  // namespace fg
