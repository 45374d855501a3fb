#include "flowgrad/flows/gated_conv.h"

#include "flowgrad/nn/init.h"
#include "tensor/ops_internal.h"

namespace fg::flows {

Arch parse_arch(const std::string& s) {
  if (s == "v1") return Arch::V1;
  if (s == "v2") return Arch::V2;
  fail(fmt::format("unknown arch '{}': expected v1 (the seed's GatedConv) or v2 (the revised tutorial's)", s));
}

const char* arch_name(Arch a) { return a == Arch::V1 ? "v1" : "v2"; }

namespace {

// Runs layers [from, end) of net on h. With b > 0 the activations are channel-blocked: convs read
// blocked input and write blocked output, except the net's last conv when last_nchw; norms and
// GatedConvs stay blocked; ConcatELU works per sample, so on a blocked [N, C/b, H, W, b] tensor it
// gives the blocked [N, 2C/b, H, W, b] result as it is. A ConcatELU followed by a Conv2d runs as
// one op (ag::concat_elu_conv2d), which keeps the ConcatELU's input for backward instead of its
// output, twice as large; a Conv2d followed by a ReLU writes relu(conv + bias) in one pass; a
// GatedConv followed by a channel LayerNorm normalizes its residual without writing it out.
ag::Var run_layers(nn::Sequential& net, size_t from, ag::Var h, int64_t b, bool last_nchw) {
  const size_t end = net.size();
  auto conv_options = [&](const nn::Conv2d& conv, size_t i) {
    ConvOptions o = conv.options();
    o.src_block = b;
    o.dst_block = last_nchw && i + 1 == end ? 0 : b;
    return o;
  };
  for (size_t i = from; i < end; ++i) {
    nn::Module& m = net[i];
    auto* next = i + 1 < end ? dynamic_cast<nn::Conv2d*>(&net[i + 1]) : nullptr;
    if (next && m.type_name() == "ConcatELU") {
      ++i;
      const ConvOptions o = conv_options(*next, i);
      h = ag::concat_elu_conv2d(h, next->weight, next->bias.defined() ? &next->bias : nullptr, o);
    } else if (auto* conv = dynamic_cast<nn::Conv2d*>(&m)) {
      const bool relu = i + 1 < end && net[i + 1].type_name() == "ReLU";  // fused: relu(conv + bias)
      if (relu) ++i;
      ConvOptions o = conv_options(*conv, i);  // the output layout of the last layer run
      o.relu = relu;
      h = ag::conv2d(h, conv->weight, conv->bias.defined() ? &conv->bias : nullptr, o);
    } else if (auto* norm = dynamic_cast<nn::LayerNorm*>(&m); norm && b) {
      h = norm->forward_blocked(h, b);
    } else if (auto* gated = dynamic_cast<GatedConv*>(&m)) {
      auto* norm = i + 1 < end ? dynamic_cast<nn::LayerNorm*>(&net[i + 1]) : nullptr;
      if (norm && norm->dim == 1) {  // fused: the residual is normalized without being written out
        ++i;
        h = gated->forward_norm(h, b, *norm);
      } else {
        h = gated->forward_blocked(h, b);
      }
    } else {
      h = m(h);
    }
  }
  return h;
}

}  // namespace

GatedConv::GatedConv(int64_t c_in, int64_t c_hidden, Arch arch) {
  net_ = register_module("net", std::make_shared<nn::Sequential>());
  if (arch == Arch::V1) {
    net_->add(std::make_shared<nn::Conv2d>(c_in, c_hidden, 3, 1));
  } else {
    net_->add(nn::concat_elu());
    net_->add(std::make_shared<nn::Conv2d>(2 * c_in, c_hidden, 3, 1));
  }
  net_->add(nn::concat_elu());
  net_->add(std::make_shared<nn::Conv2d>(2 * c_hidden, 2 * c_in, 1));
}

// x + a * sigmoid(b) for [a, b] = chunk(net(x), 2, 1), as one fused op (on blocked tensors too:
// the first C channels of a blocked 2C tensor are its first C/b blocks)
ag::Var GatedConv::forward(const ag::Var& x) { return forward_blocked(x, 0); }

ag::Var GatedConv::forward_blocked(const ag::Var& x, int64_t b) {
  return ag::gated_residual(x, run_layers(*net_, 0, x, b, false));
}

ag::Var GatedConv::forward_norm(const ag::Var& x, int64_t b, nn::LayerNorm& norm) {
  const bool affine = norm.weight.defined();
  return ag::gated_residual_layer_norm(x, run_layers(*net_, 0, x, b, false), affine ? &norm.weight : nullptr,
                                       affine ? &norm.bias : nullptr, norm.eps, b);
}

GatedConvNet::GatedConvNet(int64_t c_in, int64_t c_hidden, int64_t c_out, Arch arch, int num_layers)
    : c_hidden_(c_hidden) {
  if (c_out <= 0) c_out = 2 * c_in;
  net_ = register_module("nn", std::make_shared<nn::Sequential>());
  net_->add(std::make_shared<nn::Conv2d>(c_in, c_hidden, 3, 1));
  for (int i = 0; i < num_layers; ++i) {
    net_->add(std::make_shared<GatedConv>(c_hidden, c_hidden, arch));
    net_->add(std::make_shared<nn::LayerNorm>(c_hidden, 1));  // LayerNormChannels
  }
  net_->add(nn::concat_elu());
  auto last = std::make_shared<nn::Conv2d>(2 * c_hidden, c_out, 3, 1);
  nn::zeros_(last->weight);
  nn::zeros_(last->bias);
  net_->add(last);
}

ag::Var forward_channel_blocked(nn::Sequential& net, const ag::Var& x, int64_t hidden) {
  const int64_t b = conv_channel_block(x.value());
  if (b == 0 || x.dim() != 4 || hidden % b != 0) return run_layers(net, 0, x, 0, true);
  // The first conv writes blocked output where fast kernels (oneDNN's JIT, our weight gradient)
  // take that in every direction (glow's 2->128 at 14x14, AVX-512: forward 2.8 instead of 16 ms
  // per step and no layout copy);
  // otherwise it writes NCHW and one copy blocks its output (where only oneDNN 2.6's reference
  // kernels take a small-channel case that our own weight gradient does not).
  auto* first = dynamic_cast<nn::Conv2d*>(&net[0]);
  FG_CHECK(first, "forward_channel_blocked: the net's first layer must be a Conv2d, not {}", net[0].type_name());
  ConvOptions o = first->options();
  o.dst_block = b;
  // (inference needs only the forward kernel: glow's 4->128 at 7x7 runs JIT then, 0.19 ms instead of
  // 0.39 on gemm)
  const bool jit = conv_runs_fast(x.value(), first->weight.shape(), o, ag::grad_enabled());
  // ReLU fused as in run_layers, into the blocked conv only: fused into the NCHW one, that conv
  // would keep its NCHW output for backward besides the blocked copy the next conv keeps
  o.relu = jit && net.size() > 2 && net[1].type_name() == "ReLU";
  if (!jit) o.dst_block = 0;
  const ag::Var* bias = first->bias.defined() ? &first->bias : nullptr;
  ag::Var h = jit ? ag::conv2d(x, first->weight, bias, o) : nn::to_channel_blocks(ag::conv2d(x, first->weight, bias, o), b);
  return run_layers(net, o.relu ? 2 : 1, h, b, true);
}

ag::Var GatedConvNet::forward(const ag::Var& x) { return forward_channel_blocked(*net_, x, c_hidden_); }

}  // namespace fg::flows
