#include "flowgrad/flows/gated_conv.h"

#include "flowgrad/nn/init.h"

namespace fg::flows {

Arch parse_arch(const std::string& s) {
  if (s == "v1") return Arch::V1;
  if (s == "v2") return Arch::V2;
  fail(fmt::format("unknown arch '{}': expected v1 (the seed's GatedConv) or v2 (the revised tutorial's)", s));
}

const char* arch_name(Arch a) { return a == Arch::V1 ? "v1" : "v2"; }

GatedConv::GatedConv(int64_t c_in, int64_t c_hidden, Arch arch) : arch_(arch) {
  if (arch == Arch::V1) {
    conv1_ = register_module("net.0", std::make_shared<nn::Conv2d>(c_in, c_hidden, 3, 1));
    conv2_ = register_module("net.2", std::make_shared<nn::Conv2d>(2 * c_hidden, 2 * c_in, 1));
  } else {
    conv1_ = register_module("net.1", std::make_shared<nn::Conv2d>(2 * c_in, c_hidden, 3, 1));
    conv2_ = register_module("net.3", std::make_shared<nn::Conv2d>(2 * c_hidden, 2 * c_in, 1));
  }
}

Var GatedConv::gates(const Var& x, const ConvChain& chain) const {
  Var h = arch_ == Arch::V1 ? chain.conv(x, *conv1_) : chain.concat_elu_conv(x, *conv1_);
  return chain.concat_elu_conv(h, *conv2_);
}

// x + a * sigmoid(b) for [a, b] = chunk(gates(x), 2, 1), as one fused op, on NCHW
Var GatedConv::forward(const Var& x) { return ag::gated_residual(x, gates(x, ConvChain())); }

GatedConvNet::GatedConvNet(int64_t c_in, int64_t c_hidden, int64_t c_out, Arch arch, int num_layers,
                           int64_t num_classes)
    : c_hidden_(c_hidden), num_classes_(num_classes) {
  if (c_out <= 0) c_out = 2 * c_in;
  first_ = register_module("nn.0", std::make_shared<nn::Conv2d>(c_in, c_hidden, 3, 1));
  for (int i = 0; i < num_layers; ++i) {
    gated_.push_back(register_module(fmt::format("nn.{}", 2 * i + 1), std::make_shared<GatedConv>(c_hidden, c_hidden, arch)));
    norms_.push_back(register_module(fmt::format("nn.{}", 2 * i + 2), std::make_shared<nn::LayerNorm>(c_hidden, 1)));
  }
  // (nn.{2L+1} is the ConcatELU before the last conv: no parameters)
  last_ = register_module(fmt::format("nn.{}", 2 * num_layers + 2), std::make_shared<nn::Conv2d>(2 * c_hidden, c_out, 3, 1));
  nn::zeros_(last_->weight);
  nn::zeros_(last_->bias);
  if (num_classes_ > 0) class_embedding_ = register_parameter("class_embedding", zeros({num_classes_, c_hidden}));
}

Var GatedConvNet::forward(const Var& x, const Var* onehot) {
  ConvChain chain(x, *first_, c_hidden_);
  Var h = chain.first(x, *first_);
  if (num_classes_ > 0) {
    FG_CHECK(onehot && onehot->dim() == 2 && onehot->size(0) == x.size(0) && onehot->size(1) == num_classes_,
             "GatedConvNet: a class-conditioned network needs one-hot labels [{}, {}]", x.size(0), num_classes_);
    h = chain.add_channel_bias(h, ag::matmul(*onehot, class_embedding_));
  }
  for (size_t i = 0; i < gated_.size(); ++i) h = chain.gated_residual_norm(h, gated_[i]->gates(h, chain), *norms_[i]);
  return chain.last(h, *last_, /*concat_elu=*/true);
}

}  // namespace fg::flows
