// oneDNN f32 2-D convolution: forward, backward data, backward weights (+ bias).
// User layouts: x/dx NCHW, w/dw OIHW (goihw = {G, O/G, C/G, KH, KW} when groups > 1), bias {O},
// y/dy NCHW. Where the planner lets it (format_tag::any), oneDNN picks its blocked layouts
// (nChw16c for these shapes) and Arg reorders user<->primitive layouts with cached reorder
// primitives.
// A side given as channel-blocked (Conv2dParams::src_block/dst_block: nChw8c or nChw16c) is used
// as it is, with no reorder; the chains that pass blocked tensors between convs choose the block
// channel_block() reports, the one the jit kernels of this CPU use.
// The algorithm and which sides oneDNN lays out itself come from the conv planner
// (onednn_conv_setup in conv_plan.cpp); Conv2dParams::relu is an eltwise post-op of the forward
// primitive (after it, for gemm convs). conv2d_jit tells the planner which directions of a case
// oneDNN builds, and whether on JIT kernels.
// Dilation is passed as dil-1; right padding is derived from OH/OW. Backward primitive descriptors
// get a forward_training descriptor of the same shapes as hint. dw and dbias are overwritten.
// Returns false (reference runs) for empty shapes and for cases oneDNN rejects.
#include <algorithm>
#include <string>

#include "tensor/cpu/conv_plan.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/onednn_common.h"
#include "tensor/cpu/parallel.h"

namespace fg::cpu::onednn {
namespace {

struct Shapes {
  md src, wei, bias, dst;                // user (plain) layouts
  md src_any, wei_any, dst_any;          // what the primitives are asked to pick from
  dims strides, dilates, pad_l, pad_r;
  dnnl::algorithm algo;
};

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
  const OneDnnConvSetup how = onednn_conv_setup(p);  // the planner's: algorithm, who picks each layout
  s.src_any = how.src_any ? md(src_d, dt::f32, tag::any) : s.src;
  s.wei_any = how.wei_any ? md(wei_d, dt::f32, tag::any) : s.wei;
  s.dst_any = how.dst_any ? md(dst_d, dt::f32, tag::any) : s.dst;
  s.algo = how.winograd ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct;
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
    auto not_ref = [](const std::string& impl) { return impl.rfind("ref", 0) != 0; };
    auto out = std::make_shared<ConvJit>();
    auto fwd = forward_pd(s, true);
    out->forward = {true, not_ref(fwd.impl_info_str())};
    try {
      out->backward_data = {true, not_ref(backward_data_pd(s, fwd).impl_info_str())};
    } catch (const dnnl::error&) {
    }
    try {
      out->backward_weights = {true, not_ref(backward_weights_pd(s, true, fwd).impl_info_str())};
    } catch (const dnnl::error&) {
    }
    return out;
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
