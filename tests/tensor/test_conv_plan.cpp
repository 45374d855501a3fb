// The CPU conv planner's decisions at the tutorial's shapes (tensor/cpu/conv_plan.h), pinned so
// that a change of plan is visible: for every conv of the models' coupling networks, as those
// networks lay it out (channel-blocked between the first conv's output and the last conv's input),
// the kernel of each direction, whether it is fast, and the tap rewrite. The blocks are the CPU's
// (16 with AVX-512, 8 otherwise; ONEDNN_MAX_CPU_ISA=AVX2 gives the other column on an AVX-512
// machine), and both columns are pinned.
#include <doctest/doctest.h>

#include <string>

#include "tensor/cpu/conv_plan.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/simd_gemm.h"  // FG_SIMD_GEMM: whether this build has our kernels
#include "tensor/ops_internal.h"

using namespace fg;

namespace {

// One conv: input [N, C, H, W] as the net gives it (blocked or not), O outputs, K x K, and its
// layouts; then the expected plan per direction as "kernel[+taps][!slow]", for block 8 and 16.
struct Case {
  const char* where;
  int64_t C, H, O, K;
  bool src_blocked, dst_blocked, relu;
  const char* fwd8;
  const char* data8;
  const char* weights8;
  const char* fwd16;
  const char* data16;
  const char* weights16;
};

std::string show(const cpu::ConvPlan& p) {
  return std::string(cpu::conv_kernel_name(p.kernel)) + (p.taps ? "+taps" : "") + (p.fast ? "" : "!slow");
}

// The nets of simple/vardeq (GatedConvNet 1->32->2 at 28x28; the dequantization's 2->16->2),
// multiscale (4->48->8 at 14x14, 8->64->16 at 7x7) and glow (coupling nets 2->128->4 at 14x14 and
// 4->128->8 at 7x7, conv ReLU conv1x1 ReLU conv). In a GatedConvNet (v2) every middle conv reads
// concat_elu of its input, so its input has twice the hidden channels.
const Case kCases[] = {
    // where                 C    H    O  K  src    dst    relu
    {"simple first",         1,   28, 32, 3, false, true,  false, "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"simple gated 3x3",     64,  28, 32, 3, true,  true,  false, "winograd", "winograd", "winograd",
     "winograd", "winograd", "winograd"},
    {"simple gated 1x1",     64,  28, 64, 1, true,  true,  false, "onednn", "onednn", "pointwise_conv",
     "onednn", "onednn", "pointwise_conv"},
    {"simple last",          64,  28, 2,  3, true,  false, false, "onednn+taps", "onednn", "onednn",
     "onednn+taps", "onednn", "onednn"},
    {"dequant first",        2,   28, 16, 3, false, true,  false, "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"dequant gated 3x3",    32,  28, 16, 3, true,  true,  false, "winograd", "winograd", "winograd",
     "winograd", "winograd", "winograd"},
    {"multiscale14 first",   4,   14, 48, 3, false, true,  false, "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"multiscale14 gated",   96,  14, 48, 3, true,  true,  false, "winograd", "winograd", "winograd",
     "winograd", "winograd", "winograd"},
    {"multiscale14 last",    96,  14, 8,  3, true,  false, false, "onednn+taps", "onednn", "onednn",
     "onednn+taps", "onednn", "onednn"},
    {"multiscale7 first",    8,   7,  64, 3, false, true,  false, "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"multiscale7 gated",    128, 7,  64, 3, true,  true,  false, "winograd", "winograd", "winograd",
     "winograd", "winograd", "winograd"},
    // (ours with NCHW output takes at least two blocks of outputs: 16 is two blocks of 8, one of 16)
    {"multiscale7 last",     128, 7,  16, 3, true,  false, false, "winograd", "onednn", "onednn",
     "onednn", "onednn", "onednn"},
    {"glow14 first",         2,   14, 128, 3, false, true, true,  "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"glow14 1x1",           128, 14, 128, 1, true,  true, true,  "onednn", "onednn", "pointwise_conv",
     "onednn", "onednn", "pointwise_conv"},
    {"glow14 last",          128, 14, 4,  3, true,  false, false, "onednn+taps", "onednn", "onednn",
     "onednn+taps", "onednn", "onednn"},
    {"glow7 first",          4,   7,  128, 3, false, true, true,  "onednn", "onednn+taps", "small_conv",
     "onednn", "onednn+taps", "small_conv"},
    {"glow7 last",           128, 7,  8,  3, true,  false, false, "onednn+taps", "onednn", "onednn",
     "onednn+taps", "onednn", "onednn"},
    // the 1x1 convs the tap rewrites run instead (128 -> 3*3*4 rounded up to a block)
    {"glow14 taps 1x1",      128, 14, 48, 1, true,  true,  false, "onednn", "onednn", "pointwise_conv",
     "onednn", "onednn", "pointwise_conv"},
};

}  // namespace

TEST_CASE("the conv planner's choices at the tutorial's shapes are pinned (block 8 and 16)") {
#ifndef FG_SIMD_GEMM
  MESSAGE("no AVX2 and FMA in this build: our kernels are absent and the table does not apply");
  return;
#endif
  const int64_t b = cpu::conv_channel_block(true);
  if (b == 0) {
    MESSAGE("no oneDNN (or FG_CONV_BLOCKS=0): every conv runs on the reference kernels");
    return;
  }
  REQUIRE((b == 8 || b == 16));
  for (const Case& c : kCases) {
    const std::string where = c.where;
    CAPTURE(where);
    CAPTURE(b);
    ConvOptions o;
    o.padding = c.K / 2;
    o.relu = c.relu;
    o.src_block = c.src_blocked ? b : 0;
    o.dst_block = c.dst_blocked ? b : 0;
    const int64_t O = c.O % b && c.dst_blocked ? (c.O + b - 1) / b * b : c.O;
    const Shape x = c.src_blocked ? Shape{64, c.C / b, c.H, c.H, b} : Shape{64, c.C, c.H, c.H};
    const Conv2dParams p = conv2d_params(x, {O, c.C, c.K, c.K}, o, "test");
    CHECK(show(cpu::plan_conv(p, ConvDir::Forward, true)) == (b == 8 ? c.fwd8 : c.fwd16));
    CHECK(show(cpu::plan_conv(p, ConvDir::BackwardData, true)) == (b == 8 ? c.data8 : c.data16));
    CHECK(show(cpu::plan_conv(p, ConvDir::BackwardWeights, true)) == (b == 8 ? c.weights8 : c.weights16));
    // oneDNN off: the reference kernels, no rewrite
    CHECK(show(cpu::plan_conv(p, ConvDir::Forward, false)) == "reference!slow");
  }
}
