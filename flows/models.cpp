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
                 int64_t c_out = -1) {
  if (c_net_in < 0) c_net_in = c_in;
  if (c_out < 0) c_out = additive ? c_in : 2 * c_in;
  auto net = std::make_shared<GatedConvNet>(c_net_in, c_hidden, c_out, arch);
  return std::make_shared<CouplingLayer>(net, std::move(mask), c_in, additive);
}

std::shared_ptr<Dequantization> variational_dequantization(Arch arch) {
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 4; ++i)
    flows.push_back(coupling(1, 16, checkerboard_mask(28, 28, i % 2 == 1), arch, false, 2, 2));
  return std::make_shared<VariationalDequantization>(flows, 1e-5, arch == Arch::V2);
}

}  // namespace

std::shared_ptr<ImageFlow> create_simple_flow(bool use_vardeq, Arch arch, bool additive) {
  std::shared_ptr<Dequantization> deq = use_vardeq ? variational_dequantization(arch)
                                                  : std::make_shared<Dequantization>(1e-5, arch == Arch::V2);
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 8; ++i) flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28});
}

std::shared_ptr<ImageFlow> create_multiscale_flow(Arch arch, bool additive) {
  auto deq = variational_dequantization(arch);  // built first: initialization draws in this order
  std::vector<FlowPtr> flows;
  for (int i = 0; i < 2; ++i) flows.push_back(coupling(1, 32, checkerboard_mask(28, 28, i % 2 == 1), arch, additive));
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 2; ++i) flows.push_back(coupling(4, 48, channel_mask(4, i % 2 == 1), arch, additive));
  flows.push_back(std::make_shared<SplitFlow>());
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < 4; ++i) flows.push_back(coupling(8, 64, channel_mask(8, i % 2 == 1), arch, additive));
  return std::make_shared<ImageFlow>(deq, flows, Shape{1, 28, 28});
}

std::shared_ptr<ImageFlow> create_glow(int k, int hidden) {
  FG_CHECK(k >= 1 && hidden >= 1, "create_glow: need k >= 1 and hidden >= 1, got k={} hidden={}", k, hidden);
  // the peer's Dequantization() undoes the alpha squeeze (unscale_alpha=True) for every variant
  std::vector<FlowPtr> flows{std::make_shared<SqueezeFlow>()};
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(4, hidden));
  flows.push_back(std::make_shared<SplitFlow>());
  flows.push_back(std::make_shared<SqueezeFlow>());
  for (int i = 0; i < k; ++i) flows.push_back(std::make_shared<GlowStep>(8, hidden));
  return std::make_shared<ImageFlow>(std::make_shared<Dequantization>(1e-5, true), flows, Shape{1, 28, 28});
}

}  // namespace fg::flows
