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
    net_->add(std::make_shared<nn::Conv2d>(2 * c_in, c_hidden, 3, 1));
  }
  net_->add(nn::concat_elu());
  net_->add(std::make_shared<nn::Conv2d>(2 * c_hidden, 2 * c_in, 1));
}

// x + a * sigmoid(b) for [a, b] = chunk(net(x), 2, 1), as one fused op
ag::Var GatedConv::forward(const ag::Var& x) { return ag::gated_residual(x, (*net_)(x)); }

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
