// The CPU conv planner (see conv_plan.h for the order of the kernels and the switches).
#include "tensor/cpu/conv_plan.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "tensor/cpu/cpu_backend.h"

namespace fg::cpu {

namespace {

struct Policy {
  bool winograd_ours = true, winograd_onednn = true, blocks = true;
};

const Policy& policy() {
  static const Policy p = [] {
    auto env = [](const char* name, const char* fallback) {
      const char* e = std::getenv(name);
      return std::string(e && *e ? e : fallback);
    };
    const std::string wino = env("FG_CONV_WINOGRAD", "1");
    return Policy{wino != "0" && wino != "onednn", wino != "0", env("FG_CONV_BLOCKS", "1") != "0"};
  }();
  return p;
}

bool odd_same_size(const Conv2dParams& p) {
  return p.groups == 1 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && p.KH == p.KW &&
         p.KH > 1 && p.KH % 2 == 1 && p.pad_h == p.KH / 2 && p.pad_w == p.KW / 2;
}

// A conv with few outputs (at most 8: the nets' last convs) reading a channel-blocked input and
// writing NCHW: oneDNN pads O to a whole channel block, so the direct conv did 2-8x the work
// (simple's 64->2 at 28x28 took 2.7 ms per call forward, glow's 128->4 at 14x14 1.36 ms). As a 1x1
// conv writing its K*K*O channels blocked (padded with zero weights to a whole block) and tap_sum
// reading them as they are, it does not; an NCHW z cost a layout copy per call (glow's
// 64x36x14x14: 0.11 ms, a conv's third).
bool taps_forward(const Conv2dParams& p) {
  return p.src_block > 0 && p.dst_block == 0 && !p.relu && p.O <= 8 && odd_same_size(p);
}

// The backward data of a conv with few input channels (at most 8, the nets' first convs) and a
// blocked dy: a conv of dy with the flipped, transposed kernel, which has few outputs, so the same
// rewrite applies. oneDNN pads dx's C to a whole block: glow's 2->128 at 14x14 took 1.34 ms per call.
bool taps_backward_data(const Conv2dParams& p) { return p.dst_block > 0 && p.src_block == 0 && p.C <= 8 && odd_same_size(p); }

ConvPlan onednn_or_reference(const onednn::ConvJit::Direction& d) {
  return d.built ? ConvPlan{ConvKernel::OneDnn, d.jit, false} : ConvPlan{};
}

}  // namespace

const char* conv_kernel_name(ConvKernel k) {
  switch (k) {
    case ConvKernel::Reference: return "reference";
    case ConvKernel::OneDnn: return "onednn";
    case ConvKernel::Winograd: return "winograd";
    case ConvKernel::SmallConv: return "small_conv";
    case ConvKernel::PointwiseConv: return "pointwise_conv";
  }
  return "?";
}

ConvPlan plan_conv(const Conv2dParams& p, ConvDir dir, bool use_onednn) {
  if (!use_onednn) return {};
  const bool wino = policy().winograd_ours;
  const onednn::ConvJit jit = onednn::conv2d_jit(p);
  ConvPlan plan;
  switch (dir) {
    case ConvDir::Forward:
      plan = wino && (winograd::applies(p) || winograd::applies_nchw_output(p)) ? ConvPlan{ConvKernel::Winograd, true}
                                                                               : onednn_or_reference(jit.forward);
      plan.taps = taps_forward(p);
      break;
    case ConvDir::BackwardData:
      plan = wino && winograd::applies(p) ? ConvPlan{ConvKernel::Winograd, true} : onednn_or_reference(jit.backward_data);
      plan.taps = taps_backward_data(p);
      break;
    case ConvDir::BackwardWeights:
      if (small_conv::applies(p)) plan = {ConvKernel::SmallConv, true};
      else if (pointwise_conv::applies(p)) plan = {ConvKernel::PointwiseConv, true};
      else if (wino && winograd::applies(p)) plan = {ConvKernel::Winograd, true};
      else plan = onednn_or_reference(jit.backward_weights);
      break;
  }
  return plan;
}

int64_t conv_channel_block(bool use_onednn) { return use_onednn && policy().blocks ? onednn::channel_block() : 0; }

OneDnnConvSetup onednn_conv_setup(const Conv2dParams& p) {
  OneDnnConvSetup s;
  // Winograd (oneDNN's convolution_auto, which picks jit_wino_4x3 where the CPU has it: AVX-512
  // in oneDNN 2.6) for 3x3 stride-1 convs with at least 32 channels on both sides; direct otherwise.
  // Measured (2-core AVX-512 Xeon, batch 64, forward / backward data / backward weights, ms):
  // 64->32 at 28x28 direct 132 / 131 / 140, wino 100 / 87 / 84; 128->64 at 7x7 15.6 / 15.6 / 20.2
  // against 13.2 / 12.6 / 13.7; but with 16 or fewer output channels (128->4, 96->8, 32->16) or 8
  // or fewer inputs wino was up to 2x slower. Our own Winograd takes the channel-blocked cases
  // first; these are what it leaves.
  s.winograd = policy().winograd_onednn && p.groups == 1 && p.KH == 3 && p.KW == 3 && p.stride_h == 1 &&
               p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && std::min(p.C, p.O) >= 32;
  // Layouts: oneDNN picks its blocked ones (format_tag::any) and we reorder. Measured (2-core
  // AVX-512 Xeon, batch 128, 32->32 3x3 pad 1, 28x28, reorders included): any picks nChw16c +
  // jit:avx512_core: fwd 10.8 ms, bwd data 10.4, bwd weights+bias 10.6; plain NCHW falls back to
  // gemm:jit (im2col): 19.1, 21.9, 34.6 ms. But convs with few input channels (the flows' first
  // convs: 1, 2 or 4 channels) would pad C to a block; plain NCHW took 0.6-0.75 of the time for
  // 1->32 and 4->48 (batch 128), while 8->64 at 7x7 was faster blocked. A channel-blocked side is
  // already in the primitive's layout and is passed as it is; an NCHW input of a conv writing
  // blocked output is left to oneDNN whatever C: with a plain input oneDNN 2.6 has only reference
  // kernels for that conv's backward passes.
  const bool any = p.C > 4;
  s.src_any = (any || p.dst_block) && !p.src_block;
  s.wei_any = any || p.src_block || p.dst_block;
  s.dst_any = any && !p.dst_block;
  return s;
}

}  // namespace fg::cpu
