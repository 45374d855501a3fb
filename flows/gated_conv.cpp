#include "flows/gated_conv.h"

#include "nn/init.h"

namespace fg::flows {

Arch parse_arch(const std::string& s) {
  if (s == "v1") return Arch::V1;
  if (s == "v2") return Arch::V2;
  fail(fmt::format("unknown arch '{}': expected v1 (the seed's GatedConv) or v2 (the revised tutorial's)", s));
}

const char* arch_name(Arch a) { return a == Arch::V1 ? "v1" : "v2"; }

GatedConv::GatedConv(int64_t c_in, int64_t c_hidden, Arch arch) {
  net_ = register_module("net", std::make_shared<nn::Sequential>());
  if (arch == Arch::V1) {
    net_->add(std::make_shared<nn::Conv2d>(c_in, c_hidden, 3, 1));
  } else {
    net_->add(nn::concat_elu());
    conv1_ = std::make_shared<nn::Conv2d>(2 * c_in, c_hidden, 3, 1);
    net_->add(conv1_);
  }
  net_->add(nn::concat_elu());
  auto conv2 = std::make_shared<nn::Conv2d>(2 * c_hidden, 2 * c_in, 1);
  net_->add(conv2);
  if (arch == Arch::V2) conv2_ = conv2;
}

// V2 where f32 convs run on oneDNN: the activations between the two convs stay in oneDNN's
// channel-blocked layout, so neither conv reorders its input and the first does not reorder its
// output: one layout copy of x in, one of dx out, and the blocked ConcatELU output is the only
// copy saved. Same parameters and math as net_.
ag::Var GatedConv::hidden(const ag::Var& x) {
  const int64_t b = conv1_ ? conv_channel_block(x.value()) : 0;
  if (b == 0 || x.shape().size() != 4 || x.shape()[1] % b != 0 || conv1_->cfg.out % b != 0) return (*net_)(x);
  ConvOptions o1 = conv1_->options(), o2 = conv2_->options();
  o1.src_block = o1.dst_block = o2.src_block = b;
  const ag::Var* b1 = conv1_->bias.defined() ? &conv1_->bias : nullptr;
  const ag::Var* b2 = conv2_->bias.defined() ? &conv2_->bias : nullptr;
  // ConcatELU of a blocked [N, C/b, H, W, b] tensor is the blocked ConcatELU [N, 2C/b, H, W, b]
  ag::Var u = ag::conv2d(ag::concat_elu(nn::to_channel_blocks(x, b)), conv1_->weight, b1, o1);
  return ag::conv2d(ag::concat_elu(u), conv2_->weight, b2, o2);
}

// x + a * sigmoid(b) for [a, b] = chunk(net(x), 2, 1), as one fused op
ag::Var GatedConv::forward(const ag::Var& x) { return ag::gated_residual(x, hidden(x)); }

GatedConvNet::GatedConvNet(int64_t c_in, int64_t c_hidden, int64_t c_out, Arch arch, int num_layers) {
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

}  // namespace fg::flows
