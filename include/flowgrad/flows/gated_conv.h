// The tutorial's coupling network: GatedConv residual blocks with channel LayerNorm.
// Arch::V1 is the seed's GatedConv (conv3x3(c->h), ConcatELU, conv1x1(2h->2c));
// Arch::V2 the revised tutorial's (ConcatELU, conv3x3(2c->h), ConcatELU, conv1x1(2h->2c)).
#pragma once
#include "flowgrad/nn/layers.h"

namespace fg::flows {

enum class Arch { V1, V2 };
Arch parse_arch(const std::string& s);  // "v1" | "v2"
const char* arch_name(Arch a);

class GatedConv : public nn::Module {
 public:
  GatedConv(int64_t c_in, int64_t c_hidden, Arch arch);
  std::string type_name() const override { return "GatedConv"; }
  ag::Var forward(const ag::Var& x) override;  // x + a * sigmoid(g)
  // the same on channel-blocked x [N, C/b, H, W, b] (see GatedConvNet), blocked all through
  ag::Var forward_blocked(const ag::Var& x, int64_t b);
  // norm(forward_blocked(x, b)) for a LayerNorm over the channels, the residual never written out
  ag::Var forward_norm(const ag::Var& x, int64_t b, nn::LayerNorm& norm);

 private:
  std::shared_ptr<nn::Sequential> net_;
};

// Runs a conv net whose first and last layers are Conv2d and whose first conv writes `hidden`
// channels, with its activations in oneDNN's channel-blocked layout from the first conv's output to
// the last conv's input (convs, ReLUs, ConcatELUs, channel norms and GatedConvs in between all take
// blocked tensors); as net(x) where f32 convs of x do not run on oneDNN (conv_channel_block).
ag::Var forward_channel_blocked(nn::Sequential& net, const ag::Var& x, int64_t hidden);

// conv3x3(c_in->h), num_layers x [GatedConv, LayerNormChannels], ConcatELU, conv3x3(2h->c_out)
// with the last conv zero-initialized (so a coupling layer starts as the identity).
// Where f32 convs run on oneDNN (conv_channel_block), everything from the first conv's output to
// the last conv's input stays in oneDNN's channel-blocked layout: no conv reorders its activations
// or their gradients there, and one layout copy is made (of the first conv's output). Same
// parameters and math.
class GatedConvNet : public nn::Module {
 public:
  GatedConvNet(int64_t c_in, int64_t c_hidden, int64_t c_out, Arch arch, int num_layers = 3);
  std::string type_name() const override { return "GatedConvNet"; }
  ag::Var forward(const ag::Var& x) override;

 private:
  int64_t c_hidden_;
  std::shared_ptr<nn::Sequential> net_;
};

}  // namespace fg::flows
