// The tutorial's model builders (flowgrad/flows/models.h): simple, vardeq, multiscale, and the
// PyTorch peer's Glow.
#include "flowgrad/flows/models.h"

#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/multiscale.h"

namespace fg::flows {

namespace {

FlowPtr coupling(int64_t c_in, int64_t c_hidden, Tensor mask, Arch arch, bool additive, int64_t c_net_in = -1,
                 int64_t c_out = -1, int64_t num_classes = 0) {
  if (c_net_in < 0) c_net_in = c_in;
  if (c_out < 0) c_out = additive ? c_in : 2 * c_in;
  auto net = std::make_shared<GatedConvNet>(c_net_in, c_hidden, c_out, arch, 3, num_classes);
  return std::make_shared<CouplingLayer>(net, std::move(mask), c_in, additive);
}

std::shared_ptr<Dequantization> variational_dequantization(Arch arch) {
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 4; ++i)
    flows.push_back(coupling(1, 16, checkerboard_mask(28, 28, i % 2 == 1), arch, false, 2, 2));
  return std::make_shared<VariationalDequantization>(flows, 1e-5, arch == Arch::V2);
}

// the classes a coupling net is conditioned on (0: none), a split's prior (null: N(0, I)), and
// how many classes the ImageFlow has
int64_t net_classes(Conditioning c, int64_t k) { return conditions_coupling(c) ? k : 0; }
std::shared_ptr<SplitFlow> split(Conditioning c, int64_t k, Shape part) {
  return std::make_shared<SplitFlow>(conditions_prior(c) ? std::make_shared<ClassPrior>(k, std::move(part)) : nullptr);
}
int64_t flow_classes(Conditioning c, int64_t k) {
  FG_CHECK(c == Conditioning::None || k >= 2, "a class-conditional flow needs at least 2 classes, got {}", k);
  return c == Conditioning::None ? 0 : k;
}

}  // namespace

std::shared_ptr<ImageFlow> create_simple_flow(bool use_vardeq, Arch arch, bool additive, Conditioning cond,
                                              int64_t k) {
  std::shared_ptr<Dequantization> deq = use_vardeq ? variational_dequantization(arch)
                                                  : std::make_shared<Dequantization>(1e-5, arch == Arch::V2);
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 8; ++i)
    flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive, -1, -1, net_classes(cond, k)));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28}, 8, flow_classes(cond, k), conditions_prior(cond));
}

std::shared_ptr<ImageFlow> create_multiscale_flow(Arch arch, bool additive, Conditioning cond, int64_t k) {
  auto deq = variational_dequantization(arch);  // built first: initialization draws in this order
  const int64_t nk = net_classes(cond, k);
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 2; ++i)
    flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive, -1, -1, nk));
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 2; ++i) flows.push_back(coupling(4, 48, channel_mask(4, i % 2 == 1), arch, additive, -1, -1, nk));
  flows.push_back(split(cond, k, {2, 14, 14}));
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 4; ++i) flows.push_back(coupling(8, 64, channel_mask(8, i % 2 == 1), arch, additive, -1, -1, nk));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28}, 8, flow_classes(cond, k), conditions_prior(cond));
}

std::shared_ptr<ImageFlow> create_glow(int k, int hidden, Conditioning cond, int64_t classes) {
  FG_CHECK(k >= 1 && hidden >= 1, "create_glow: need k >= 1 and hidden >= 1, got k={} hidden={}", k, hidden);
  const int64_t nk = net_classes(cond, classes);
  // the peer's Dequantization() undoes the alpha squeeze (unscale_alpha=True) for every variant
  std::vector<FlowPtr> flows{std::make_shared<SqueezeFlow>()};
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(4, hidden, true, nk));
  flows.push_back(split(cond, classes, {2, 14, 14}));
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(8, hidden, true, nk));
  return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(1e-5, true), flows, Shape{1, 28, 28}, 8,
                                     flow_classes(cond, classes), conditions_prior(cond));
}

}  // namespace fg::flows
