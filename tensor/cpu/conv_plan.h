// The CPU conv planner: every decision about how a convolution runs on the CPU, in one place.
// For a conv (Conv2dParams, its channel blocks included) and a direction it names the kernel that
// runs it, whether that kernel is fast (ours, or oneDNN's JIT ones) or a slow fallback (oneDNN's
// reference implementation, our reference kernels), and whether the op layer should run the conv
// as a 1x1 conv to K*K*O channels plus tap_sum instead (for convs with few channels on one side,
// which oneDNN pads to a whole channel block). For oneDNN it also fixes the algorithm (Winograd or
// direct) and which sides oneDNN may lay out itself (format_tag::any).
//
// The kernels, in the order they are tried (each takes only the cases its applies() accepts):
//   forward:          Winograd (ours, blocked in, blocked or NCHW out) -> oneDNN -> reference
//   backward data:    Winograd -> oneDNN -> reference
//   backward weights: small-channel (ours, the nets' first convs) -> pointwise (ours, blocked 1x1)
//                     -> Winograd -> oneDNN -> reference
//   f64, or oneDNN off: reference, always.
// The taps advice: forward with blocked input, NCHW output and at most 8 outputs (the nets' last
// convs); backward data with NCHW input, blocked output and at most 8 inputs (the first convs).
//
// The switches for comparisons, read once from the environment: FG_ONEDNN=0 (reference kernels
// only; CpuBackend also takes it per instance), FG_CONV_WINOGRAD=0 (no Winograd at all) or
// =onednn (oneDNN's only, which 2.6 has for AVX-512 alone), FG_CONV_BLOCKS=0 (every conv chain
// on NCHW: conv_channel_block is 0).
#pragma once
#include <cstdint>

#include "flowgrad/detail/params.h"

namespace fg::cpu {

enum class ConvKernel : uint8_t { Reference, OneDnn, Winograd, SmallConv, PointwiseConv };
const char* conv_kernel_name(ConvKernel k);

struct ConvPlan {
  ConvKernel kernel = ConvKernel::Reference;
  bool fast = false;  // a JIT or SIMD kernel (not a reference implementation)
  bool taps = false;  // the op layer should run it as a 1x1 conv plus tap_sum (then that is fast)
};

// The plan for an f32 conv; `onednn` says whether this backend instance may use oneDNN.
ConvPlan plan_conv(const Conv2dParams& p, ConvDir dir, bool onednn);

// The channel block f32 conv chains should use on this CPU (oneDNN's nChw8c or nChw16c, by its
// vector width), 0 without oneDNN or with FG_CONV_BLOCKS=0.
int64_t conv_channel_block(bool onednn);

// How oneDNN runs a conv the planner gave it: its algorithm, and for each side whether oneDNN
// picks the layout (then reordered from and to the user's) or takes the user's as it is.
struct OneDnnConvSetup {
  bool winograd = false;
  bool src_any = false, wei_any = false, dst_any = false;
};
OneDnnConvSetup onednn_conv_setup(const Conv2dParams& p);

}  // namespace fg::cpu
