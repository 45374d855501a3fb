// ConvChain: the steps of a coupling network's conv stack, run in the layout the backend prefers.
// A chain keeps its activations channel-blocked (the backend's conv_channel_block(): nChw8c or
// nChw16c on a CPU with oneDNN, held as [N, C/b, H, W, b]) from its first conv's output to its
// last conv's input, so no conv in between reorders its activations or their gradients; where the
// backend has no blocked layout (CUDA, f64, FG_CONV_BLOCKS=0) every step runs on NCHW. The math and
// the parameters are the same either way; only where the numbers sit in memory differs.
//
// Each step is one fused op where the backend has one: a conv and the ReLU after it, a ConcatELU
// and the conv after it (which keeps the ConcatELU's input for backward, half its output's size),
// and a GatedConv's residual with the channel LayerNorm after it (never written out). A network
// calls the steps in order in its forward (flows/gated_conv.h and GlowCoupling are the examples):
//
//   ConvChain chain(x, *first, hidden);       // decides the layout for this input
//   Var h = chain.first(x, *first, true);     // NCHW in (conv + ReLU)
//   h = chain.conv(h, *middle, true);         // blocked -> blocked
//   return chain.last(h, *last, false);       // NCHW out
#pragma once
#include "flowgrad/nn/layers.h"

namespace fg::flows {

using ag::Var;

class ConvChain {
 public:
  // The layout for input x [N, C, H, W] of a chain whose first conv is `first` and whose inner
  // activations have `hidden` channels: blocked where the backend has a block b dividing hidden.
  // The first conv then writes blocked output where the backend runs that conv fast in every
  // direction the current grad mode needs (forward alone under NoGradGuard); otherwise it writes
  // NCHW and one layout copy blocks its output.
  ConvChain(const Var& x, const nn::Conv2d& first, int64_t hidden);
  ConvChain() = default;  // NCHW all through
  int64_t block() const { return block_; }  // 0: NCHW all through

  // The first conv (NCHW input), with ReLU after it when `relu`.
  Var first(const Var& x, const nn::Conv2d& conv, bool relu = false) const;
  // A conv inside the chain, with ReLU after it when `relu`.
  Var conv(const Var& h, const nn::Conv2d& conv, bool relu = false) const;
  // conv(concat_elu(h)) inside the chain (the conv takes twice h's channels).
  Var concat_elu_conv(const Var& h, const nn::Conv2d& conv) const;
  // The last conv (NCHW output), reading concat_elu(h) when `concat_elu`.
  Var last(const Var& h, const nn::Conv2d& conv, bool concat_elu) const;
  // norm(x + a * sigmoid(b)) with [a, b] = chunk(gates, 2, 1): a GatedConv's residual normalized
  // over its channels by a LayerNorm over dim 1, in one op.
  // h + b per example and channel, b [N, C] (a class embedding), in h's layout.
  Var add_channel_bias(const Var& h, const Var& b) const;
  Var gated_residual_norm(const Var& x, const Var& gates, const nn::LayerNorm& norm) const;

 private:
  ConvOptions options(const nn::Conv2d& conv, int64_t src_block, int64_t dst_block, bool relu) const;
  int64_t block_ = 0;
  bool first_blocked_ = false;
};

}  // namespace fg::flows
