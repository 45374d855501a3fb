// The tutorial's coupling network: GatedConv residual blocks with channel LayerNorm.
// Arch::V1 is the seed's GatedConv (conv3x3(c->h), ConcatELU, conv1x1(2h->2c));
// Arch::V2 the revised tutorial's (ConcatELU, conv3x3(2c->h), ConcatELU, conv1x1(2h->2c)).
// Parameter names follow the tutorial's nn.Sequential indices (GatedConvNet: nn.0 the first conv,
// nn.1, nn.3, ... the GatedConvs, nn.2, nn.4, ... their LayerNorms, the last conv after them;
// GatedConv: net.0 and net.2 (v1) or net.1 and net.3 (v2)), so checkpoints keep their keys.
#pragma once
#include "flowgrad/flows/conv_chain.h"

namespace fg::flows {

enum class Arch { V1, V2 };
Arch parse_arch(const std::string& s);  // "v1" | "v2"; throws naming both
const char* arch_name(Arch a);

class GatedConv : public nn::Module {
 public:
  GatedConv(int64_t c_in, int64_t c_hidden, Arch arch);
  std::string type_name() const override { return "GatedConv"; }
  Var forward(const Var& x) override;  // x + a * sigmoid(b), [a, b] = gates(x): x [N, C, H, W]
  // The net's output [a, b] (2C channels) for x laid out as `chain` lays out its activations.
  Var gates(const Var& x, const ConvChain& chain) const;

 private:
  Arch arch_;
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
};

// conv3x3(c_in->h), num_layers x [GatedConv, LayerNormChannels], ConcatELU, conv3x3(2h->c_out)
// with the last conv zero-initialized (so a coupling layer starts as the identity). x [N, c_in,
// H, W] -> [N, c_out, H, W]; c_out <= 0 means 2 c_in. Runs as a ConvChain: activations stay in
// the backend's blocked layout between the first conv's output and the last conv's input.
class GatedConvNet : public nn::Module {
 public:
  // num_classes > 0: a class embedding [num_classes, c_hidden] (`class_embedding`, zero-initialized)
  // added as a bias after the first conv when forward is given one-hot labels.
  GatedConvNet(int64_t c_in, int64_t c_hidden, int64_t c_out, Arch arch, int num_layers = 3, int64_t num_classes = 0);
  std::string type_name() const override { return "GatedConvNet"; }
  Var forward(const Var& x) override { return forward(x, nullptr); }
  // onehot [N, num_classes], or null (then a class-conditioned net throws)
  Var forward(const Var& x, const Var* onehot);
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t c_hidden_, num_classes_ = 0;
  Var class_embedding_;
  std::shared_ptr<nn::Conv2d> first_, last_;
  std::vector<std::shared_ptr<GatedConv>> gated_;
  std::vector<std::shared_ptr<nn::LayerNorm>> norms_;
};

}  // namespace fg::flows
