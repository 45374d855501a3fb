// oneDNN f32 2-D convolution: forward, backward data, backward weights (+ bias).
// User layouts: x/dx NCHW, w/dw OIHW (goihw = {G, O/G, C/G, KH, KW} when groups > 1), bias {O},
// y/dy NCHW. The primitives are created with format_tag::any, so oneDNN picks its blocked
// layouts (nChw16c for these shapes); Arg reorders user<->primitive layouts with cached reorder
// primitives (see kAnyLayout for the measurement behind this choice).
// A side given as channel-blocked (Conv2dParams::src_block/dst_block: nChw8c or nChw16c) is used
// as it is, with no reorder; the chains that pass blocked tensors between convs choose the block
// channel_block() reports, the one the jit kernels of this CPU use.
// Wide 3x3 convs ask for Winograd (conv_algorithm); Conv2dParams::relu is an eltwise post-op of
// the forward primitive (after it, for gemm convs). conv2d_jit tells which directions of a case have
// JIT kernels.
// Dilation is passed as dil-1; right padding is derived from OH/OW. Backward primitive descriptors
// get a forward_training descriptor of the same shapes as hint. dw and dbias are overwritten.
// Returns false (reference runs) for empty shapes and for cases oneDNN rejects.
#include <algorithm>
#include <string>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/onednn_common.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu::onednn {
namespace {

// 1: let oneDNN choose layouts (format_tag::any) and reorder; 0: run on plain NCHW/OIHW.
// Measured (2-core AVX-512 Xeon, batch 128, 32->32 3x3 pad 1, 28x28, reorders included):
// any picks nChw16c + jit:avx512_core: fwd 10.8 ms, bwd data 10.4, bwd weights+bias 10.6;
// plain NCHW falls back to gemm:jit (im2col): 19.1, 21.9, 34.6 ms. Hence any.
#ifndef FG_ONEDNN_CONV_ANY_LAYOUT
#define FG_ONEDNN_CONV_ANY_LAYOUT 1
#endif
constexpr bool kAnyLayout = FG_ONEDNN_CONV_ANY_LAYOUT;

struct Shapes {
  md src, wei, bias, dst;                // user (plain) layouts
  md src_any, wei_any, dst_any;          // what the primitives are asked to pick from
  dims strides, dilates, pad_l, pad_r;
  dnnl::algorithm algo;
};

// Winograd (oneDNN's convolution_auto, which picks jit_wino_4x3 where the CPU has it: AVX-512
// in oneDNN 2.6) for 3x3 stride-1 convs with at least 32 channels on both sides; direct otherwise.
// Measured (2-core AVX-512 Xeon, batch 64, forward / backward data / backward weights, ms):
// 64->32 at 28x28 direct 132 / 131 / 140, wino 100 / 87 / 84; 128->64 at 7x7 15.6 / 15.6 / 20.2
// against 13.2 / 12.6 / 13.7; but with 16 or fewer output channels (128->4, 96->8, 32->16) or 8 or
// fewer inputs wino was up to 2x slower. FG_CONV_WINOGRAD=0 turns it off for comparisons. Our own
// Winograd (winograd_conv.cpp) takes the channel-blocked cases first; these are what it leaves.
dnnl::algorithm conv_algorithm(const Conv2dParams& p) {
  const bool wino = winograd_allowed() && p.groups == 1 && p.KH == 3 && p.KW == 3 && p.stride_h == 1 &&
                    p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && std::min(p.C, p.O) >= 32;
  return wino ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct;
}

tag layout_tag(int64_t block) { return block == 16 ? tag::nChw16c : block == 8 ? tag::nChw8c : tag::nchw; }

Shapes shapes(const Conv2dParams& p) {
  Shapes s;
  const dims src_d{p.N, p.C, p.H, p.W}, dst_d{p.N, p.O, p.OH, p.OW};
  const dims wei_d = p.groups > 1 ? dims{p.groups, p.O / p.groups, p.C / p.groups, p.KH, p.KW}
                                  : dims{p.O, p.C, p.KH, p.KW};
  const tag wei_tag = p.groups > 1 ? tag::goihw : tag::oihw;
  s.src = md(src_d, dt::f32, layout_tag(p.src_block));
  s.wei = md(wei_d, dt::f32, wei_tag);
  s.bias = md({p.O}, dt::f32, tag::x);
  s.dst = md(dst_d, dt::f32, layout_tag(p.dst_block));
  // Convs with few input channels (the flows' first convs: 1, 2 or 4 channels) would pad C to
  // 16 in the blocked layout; plain NCHW took 0.6-0.75 of the time for 1->32 and 4->48 (batch
  // 128), while 8->64 at 7x7 was faster blocked.
  // A channel-blocked side is already in the primitive's layout: it is passed as it is.
  // An NCHW input of a conv writing channel-blocked output is left to oneDNN as well, whatever C:
  // with a plain input oneDNN 2.6 has only reference kernels for that conv's backward passes.
  const bool any = kAnyLayout && p.C > 4;
  s.src_any = (any || p.dst_block) && !p.src_block ? md(src_d, dt::f32, tag::any) : s.src;
  s.wei_any = any || p.src_block || p.dst_block ? md(wei_d, dt::f32, tag::any) : s.wei;
  s.dst_any = any && !p.dst_block ? md(dst_d, dt::f32, tag::any) : s.dst;
  s.algo = conv_algorithm(p);
  s.strides = {p.stride_h, p.stride_w};
  s.dilates = {p.dil_h - 1, p.dil_w - 1};
  s.pad_l = {p.pad_h, p.pad_w};
  s.pad_r = {(p.OH - 1) * p.stride_h + (p.KH - 1) * p.dil_h + 1 - p.H - p.pad_h,
             (p.OW - 1) * p.stride_w + (p.KW - 1) * p.dil_w + 1 - p.W - p.pad_w};
  return s;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Shapes& s, bool with_bias, bool relu = false) {
  auto d = with_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                       s.algo, s.src_any, s.wei_any,
                                                       s.bias, s.dst_any, s.strides, s.dilates, s.pad_l, s.pad_r)
                     : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                       s.algo, s.src_any, s.wei_any,
                                                       s.dst_any, s.strides, s.dilates, s.pad_l, s.pad_r);
  if (!relu) return dnnl::convolution_forward::primitive_desc(d, engine());
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return dnnl::convolution_forward::primitive_desc(d, attr, engine());
}

dnnl::convolution_backward_data::primitive_desc backward_data_pd(
    const Shapes& s, const dnnl::convolution_forward::primitive_desc& hint) {
  dnnl::convolution_backward_data::desc d(s.algo, s.src_any, s.wei_any, s.dst_any, s.strides, s.dilates, s.pad_l,
                                          s.pad_r);
  return dnnl::convolution_backward_data::primitive_desc(d, engine(), hint);
}

dnnl::convolution_backward_weights::primitive_desc backward_weights_pd(
    const Shapes& s, bool with_bias, const dnnl::convolution_forward::primitive_desc& hint) {
  auto d = with_bias ? dnnl::convolution_backward_weights::desc(s.algo, s.src_any, s.wei_any, s.bias, s.dst_any,
                                                                s.strides, s.dilates, s.pad_l, s.pad_r)
                     : dnnl::convolution_backward_weights::desc(s.algo, s.src_any, s.wei_any, s.dst_any, s.strides,
                                                                s.dilates, s.pad_l, s.pad_r);
  return dnnl::convolution_backward_weights::primitive_desc(d, engine(), hint);
}

bool blocked_ok(int64_t block, int64_t channels) {
  return block == 0 || ((block == 8 || block == 16) && channels % block == 0);
}

bool usable(const Conv2dParams& p) {
  return p.N > 0 && p.C > 0 && p.O > 0 && p.OH > 0 && p.OW > 0 && p.groups > 0 && p.C % p.groups == 0 &&
         p.O % p.groups == 0 && p.dil_h >= 1 && p.dil_w >= 1 && blocked_ok(p.src_block, p.C) &&
         blocked_ok(p.dst_block, p.O);
}

PlanKey key_of(const Conv2dParams& p, bool flag) { return plan_key(p, flag, max_threads()); }

struct FwdPlan {
  dnnl::convolution_forward prim;
  Arg src, wei, bias, dst;
  bool relu_after = false;  // ReLU applied by us after the primitive, not as its post-op
};
struct BwdDataPlan {
  dnnl::convolution_backward_data prim;
  Arg ddst, wei, dsrc;
};
struct BwdWeightsPlan {
  dnnl::convolution_backward_weights prim;
  Arg src, ddst, dwei, dbias;
};

}  // namespace

int64_t channel_block() {
  // each ISA's bit mask contains the masks of the ISAs it extends
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512 ? 16 : 8;
}

ConvJit conv2d_jit(const Conv2dParams& p) {
  if (!usable(p)) return {};
  static PlanCache<ConvJit> cache;
  auto jit = cache.get(key_of(p, true), [&] {
    const Shapes s = shapes(p);
    auto fwd = forward_pd(s, true);
    auto not_ref = [](const std::string& impl) { return impl.rfind("ref", 0) != 0; };
    return std::make_shared<ConvJit>(ConvJit{not_ref(fwd.impl_info_str()),
                                             not_ref(backward_data_pd(s, fwd).impl_info_str()),
                                             not_ref(backward_weights_pd(s, true, fwd).impl_info_str())});
  });
  return jit ? *jit : ConvJit{};
}

bool conv2d_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dParams& p) {
  if (!usable(p)) return false;
  static PlanCache<FwdPlan> cache;
  auto plan = cache.get(key_of(p, bias != nullptr), [&] {
    const Shapes s = shapes(p);
    auto pd = forward_pd(s, bias != nullptr, p.relu != 0);
    auto pl = std::make_shared<FwdPlan>();
    // oneDNN 2.6's gemm convs (NCHW, few channels) ran the ReLU post-op 9x slower than the conv
    // itself (glow's 4->128 at 7x7: 2.1 instead of 0.24 ms); those get the primitive without it
    if (p.relu && std::string(pd.impl_info_str()).find("gemm") != std::string::npos) {
      pd = forward_pd(s, bias != nullptr, false);
      pl->relu_after = true;
    }
    pl->prim = dnnl::convolution_forward(pd);
    pl->src = Arg(s.src, pd.src_desc(), true, 0);
    pl->wei = Arg(s.wei, pd.weights_desc(), true, 1);
    if (bias) pl->bias = Arg(s.bias, pd.bias_desc(), true, 2);
    pl->dst = Arg(s.dst, pd.dst_desc(), false, 3);
    return pl;
  });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  FG_DNNL_CHECK("conv2d_forward", {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plan->src.in(x)},
                                               {DNNL_ARG_WEIGHTS, plan->wei.in(w)},
                                               {DNNL_ARG_DST, plan->dst.out(y)}};
    if (bias) args[DNNL_ARG_BIAS] = plan->bias.in(bias);
    plan->prim.execute(stream(), args);
    plan->dst.finish();
    stream().wait();
  });
  if (plan->relu_after) {
    const int64_t n = p.N * p.O * p.OH * p.OW;
    parallel_for(n, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    });
  }
  return true;
}

bool conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dParams& p) {
  if (!usable(p)) return false;
  static PlanCache<BwdDataPlan> cache;
  auto plan = cache.get(key_of(p, false), [&] {
    const Shapes s = shapes(p);
    auto pd = backward_data_pd(s, forward_pd(s, false));
    auto pl = std::make_shared<BwdDataPlan>();
    pl->prim = dnnl::convolution_backward_data(pd);
    pl->ddst = Arg(s.dst, pd.diff_dst_desc(), true, 0);
    pl->wei = Arg(s.wei, pd.weights_desc(), true, 1);
    pl->dsrc = Arg(s.src, pd.diff_src_desc(), false, 3);
    return pl;
  });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  FG_DNNL_CHECK("conv2d_backward_data", {
    plan->prim.execute(stream(), {{DNNL_ARG_DIFF_DST, plan->ddst.in(dy)},
                                  {DNNL_ARG_WEIGHTS, plan->wei.in(w)},
                                  {DNNL_ARG_DIFF_SRC, plan->dsrc.out(dx)}});
    plan->dsrc.finish();
    stream().wait();
  });
  return true;
}

bool conv2d_backward_weights(const float* x, const float* dy, float* dw, float* dbias, const Conv2dParams& p) {
  if (!usable(p)) return false;
  static PlanCache<BwdWeightsPlan> cache;
  auto plan = cache.get(key_of(p, dbias != nullptr), [&] {
    const Shapes s = shapes(p);
    auto pd = backward_weights_pd(s, dbias != nullptr, forward_pd(s, dbias != nullptr));
    auto pl = std::make_shared<BwdWeightsPlan>();
    pl->prim = dnnl::convolution_backward_weights(pd);
    pl->src = Arg(s.src, pd.src_desc(), true, 0);
    pl->ddst = Arg(s.dst, pd.diff_dst_desc(), true, 1);
    pl->dwei = Arg(s.wei, pd.diff_weights_desc(), false, 2);
    if (dbias) pl->dbias = Arg(s.bias, pd.diff_bias_desc(), false, 3);
    return pl;
  });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  FG_DNNL_CHECK("conv2d_backward_weights", {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plan->src.in(x)},
                                               {DNNL_ARG_DIFF_DST, plan->ddst.in(dy)},
                                               {DNNL_ARG_DIFF_WEIGHTS, plan->dwei.out(dw)}};
    if (dbias) args[DNNL_ARG_DIFF_BIAS] = plan->dbias.out(dbias);
    plan->prim.execute(stream(), args);
    plan->dwei.finish();
    if (dbias) plan->dbias.finish();
    stream().wait();
  });
  return true;
}

}  // namespace fg::cpu::onednn
