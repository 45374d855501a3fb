// The oneDNN entry points for a build without oneDNN (-Donednn=disabled, e.g. the lean build
// carried to a GPU machine that lacks the library): every case falls back to the reference kernels.
#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu::onednn {

bool matmul(const float*, const float*, float*, const MatmulParams&) { return false; }
bool conv2d_forward(const float*, const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_data(const float*, const float*, float*, const Conv2dParams&) { return false; }
bool conv2d_backward_weights(const float*, const float*, float*, float*, const Conv2dParams&) { return false; }
bool layer_norm_forward(const float*, const float*, const float*, float*, float*, float*, const LayerNormParams&) {
  return false;
}
bool layer_norm_backward(const float*, const float*, const float*, const float*, const float*, float*, float*, float*,
                         const LayerNormParams&) {
  return false;
}
int64_t channel_block() { return 0; }
ConvJit conv2d_jit(const Conv2dParams&) { return {}; }
void set_num_threads(int) {}

}  // namespace fg::cpu::onednn
