#include "flowgrad/flows/conv_chain.h"

#include "tensor/ops_internal.h"

namespace fg::flows {

namespace {
// NCHW -> the blocked [N, C/b, H, W, b] as one dense copy
Var to_blocks(const Var& x, int64_t b) {
  const Shape& s = x.shape();
  return ag::contiguous(ag::permute(ag::reshape(x, {s[0], s[1] / b, b, s[2], s[3]}), {0, 1, 3, 4, 2}));
}
}  // namespace

ConvChain::ConvChain(const Var& x, const nn::Conv2d& first, int64_t hidden) {
  const int64_t b = conv_channel_block(x.value());
  if (b == 0 || x.dim() != 4 || hidden % b != 0) return;
  block_ = b;
  // The first conv writes blocked output where the fast kernels take that in every direction
  // needed (glow's 2->128 at 14x14, AVX-512: forward 2.8 instead of 16 ms per step and no layout
  // copy); inference needs only the forward kernel (glow's 4->128 at 7x7 runs JIT then, 0.19 ms
  // instead of 0.39 on gemm).
  first_blocked_ = conv_runs_fast(x.value(), first.weight.shape(), options(first, 0, b, false), ag::grad_enabled());
}

ConvOptions ConvChain::options(const nn::Conv2d& conv, int64_t src_block, int64_t dst_block, bool relu) const {
  ConvOptions o = conv.options();
  o.src_block = src_block;
  o.dst_block = dst_block;
  o.relu = relu;
  return o;
}

Var ConvChain::first(const Var& x, const nn::Conv2d& conv, bool relu) const {
  const Var* bias = conv.bias.defined() ? &conv.bias : nullptr;
  if (block_ == 0 || first_blocked_) return ag::conv2d(x, conv.weight, bias, options(conv, 0, block_, relu));
  // NCHW output, then one copy into blocks; the ReLU is not fused into this conv, which would then
  // keep its NCHW output for backward besides the blocked copy the next conv keeps
  Var h = to_blocks(ag::conv2d(x, conv.weight, bias, options(conv, 0, 0, false)), block_);
  return relu ? ag::relu(h) : h;
}

Var ConvChain::conv(const Var& h, const nn::Conv2d& conv, bool relu) const {
  return ag::conv2d(h, conv.weight, conv.bias.defined() ? &conv.bias : nullptr, options(conv, block_, block_, relu));
}

Var ConvChain::concat_elu_conv(const Var& h, const nn::Conv2d& conv) const {
  // ConcatELU works per sample, so on a blocked [N, C/b, H, W, b] tensor it gives the blocked
  // [N, 2C/b, H, W, b] result as it is
  return ag::concat_elu_conv2d(h, conv.weight, conv.bias.defined() ? &conv.bias : nullptr,
                               options(conv, block_, block_, false));
}

Var ConvChain::last(const Var& h, const nn::Conv2d& conv, bool concat_elu) const {
  const Var* bias = conv.bias.defined() ? &conv.bias : nullptr;
  const ConvOptions o = options(conv, block_, 0, false);
  return concat_elu ? ag::concat_elu_conv2d(h, conv.weight, bias, o) : ag::conv2d(h, conv.weight, bias, o);
}

Var ConvChain::add_channel_bias(const Var& h, const Var& b) const {
  const int64_t n = b.size(0), c = b.size(1);
  // blocked [N, C/b, H, W, b]: channel = block * b + lane
  return h + (block_ ? ag::reshape(b, {n, c / block_, 1, 1, block_}) : ag::reshape(b, {n, c, 1, 1}));
}

Var ConvChain::gated_residual_norm(const Var& x, const Var& gates, const nn::LayerNorm& norm) const {
  const int64_t c = x.dim() >= 2 ? (block_ ? x.size(1) * block_ : x.size(1)) : 0;
  FG_CHECK(norm.dim == 1 && c == norm.features, "LayerNorm({}) over dim {}: cannot normalize the {} channels of {}",
           norm.features, norm.dim, c, shape_str(x.shape()));
  const bool affine = norm.weight.defined();
  return ag::gated_residual_layer_norm(x, gates, affine ? &norm.weight : nullptr, affine ? &norm.bias : nullptr,
                                       norm.eps, block_);
}

}  // namespace fg::flows
