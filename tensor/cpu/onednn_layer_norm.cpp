// oneDNN f32 layer normalization. oneDNN normalizes over the last dim only, so this handles
// inner == 1: x is a plain row-major [outer, C] matrix (tag ab), statistics are [outer].
// gamma/beta map to separate SCALE/SHIFT memories (normalization_flags::use_scale / use_shift).
// Our kernels store rstd = 1/sqrt(var + eps) where oneDNN stores the variance: forward writes the
// variance into the caller's rstd buffer and converts it in place; backward converts rstd back
// (var = 1/rstd^2 - eps, clamped at 0) into a plan-owned buffer. dgamma/dbeta are overwritten.
// With gamma or either diff, backward runs prop_kind::backward with use_scale|use_shift (the
// combination oneDNN 2.6 accepts); an unwanted diff goes to a plan-owned scratch buffer.
// Returns false (reference runs) for inner != 1, empty shapes and cases oneDNN rejects.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/onednn_common.h"

namespace fg::cpu::onednn {
namespace {

using flags_t = dnnl::normalization_flags;

flags_t make_flags(bool scale, bool shift) {
  auto f = flags_t::none;
  if (scale) f = f | flags_t::use_scale;
  if (shift) f = f | flags_t::use_shift;
  return f;
}

struct Mds {
  md data, stat, param;
};
Mds mds(const LayerNormParams& p) {
  return {md({p.outer, p.C}, dt::f32, tag::ab), md({p.outer}, dt::f32, tag::a), md({p.C}, dt::f32, tag::a)};
}

dnnl::layer_normalization_forward::primitive_desc forward_pd(const LayerNormParams& p, flags_t f) {
  const Mds m = mds(p);
  dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_training, m.data, m.stat,
                                            static_cast<float>(p.eps), f);
  return dnnl::layer_normalization_forward::primitive_desc(d, engine());
}

dnnl::memory handle_mem(const md& d) { return dnnl::memory(d, engine(), DNNL_MEMORY_NONE); }

struct FwdPlan {
  dnnl::layer_normalization_forward prim;
  dnnl::memory x, y, mean, var, scale, shift;
};

struct BwdPlan {
  dnnl::layer_normalization_backward prim;
  dnnl::memory dy, x, mean, var, scale, dx, dscale, dshift;
  dnnl::memory shift;  // oneDNN 2.6 wants a SHIFT input in a use_shift backward (unused): zeros
  std::vector<float> var_buf, ones, zeros, dscale_scratch, dshift_scratch;
};

bool usable(const LayerNormParams& p) { return p.inner == 1 && p.outer > 0 && p.C > 0; }

}  // namespace

bool layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                        const LayerNormParams& p) {
  if (!usable(p)) return false;
  static PlanCache<FwdPlan> cache;
  auto plan = cache.get(plan_key(p, (gamma != nullptr) | (beta != nullptr) << 1, max_threads()), [&] {
    const Mds m = mds(p);
    auto pd = forward_pd(p, make_flags(gamma, beta));
    auto pl = std::make_shared<FwdPlan>();
    pl->prim = dnnl::layer_normalization_forward(pd);
    pl->x = handle_mem(m.data);
    pl->y = handle_mem(m.data);
    pl->mean = handle_mem(m.stat);
    pl->var = handle_mem(m.stat);
    pl->scale = handle_mem(m.param);
    pl->shift = handle_mem(m.param);
    return pl;
  });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  FG_DNNL_CHECK("layer_norm_forward", {
    plan->x.set_data_handle(const_cast<float*>(x));
    plan->y.set_data_handle(y);
    plan->mean.set_data_handle(mean);
    plan->var.set_data_handle(rstd);  // variance lands here, converted below
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plan->x},
                                               {DNNL_ARG_DST, plan->y},
                                               {DNNL_ARG_MEAN, plan->mean},
                                               {DNNL_ARG_VARIANCE, plan->var}};
    if (gamma) {
      plan->scale.set_data_handle(const_cast<float*>(gamma));
      args[DNNL_ARG_SCALE] = plan->scale;
    }
    if (beta) {
      plan->shift.set_data_handle(const_cast<float*>(beta));
      args[DNNL_ARG_SHIFT] = plan->shift;
    }
    plan->prim.execute(stream(), args);
    stream().wait();
  });
  for (int64_t i = 0; i < p.outer; ++i) rstd[i] = static_cast<float>(1.0 / std::sqrt(double(rstd[i]) + p.eps));
  return true;
}

bool layer_norm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                         float* dx, float* dgamma, float* dbeta, const LayerNormParams& p) {
  if (!usable(p)) return false;
  // oneDNN 2.6 (CPU) has no backward_data with scale/shift flags, so any gamma or wanted diff
  // runs the full prop_kind::backward with use_scale|use_shift (ones for a null gamma, scratch for
  // an unwanted diff); it then also requires the SHIFT input, though dx does not depend on beta.
  const bool full = gamma || dgamma || dbeta;
  static PlanCache<BwdPlan> cache;
  const int64_t variant = (gamma != nullptr) | (dgamma != nullptr) << 1 | (dbeta != nullptr) << 2;
  auto plan = cache.get(plan_key(p, variant, max_threads()), [&] {
    const Mds m = mds(p);
    const flags_t f = make_flags(full, full);
    auto hint = forward_pd(p, f);
    dnnl::layer_normalization_backward::desc d(full ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data,
                                               m.data, m.data, m.stat, static_cast<float>(p.eps), f);
    dnnl::layer_normalization_backward::primitive_desc pd(d, engine(), hint);
    auto pl = std::make_shared<BwdPlan>();
    pl->prim = dnnl::layer_normalization_backward(pd);
    pl->dy = handle_mem(m.data);
    pl->x = handle_mem(m.data);
    pl->dx = handle_mem(m.data);
    pl->mean = handle_mem(m.stat);
    pl->var_buf.resize(static_cast<size_t>(p.outer));
    pl->var = dnnl::memory(m.stat, engine(), pl->var_buf.data());
    pl->scale = handle_mem(m.param);
    pl->dscale = handle_mem(m.param);
    pl->dshift = handle_mem(m.param);
    if (!gamma) pl->ones.assign(static_cast<size_t>(p.C), 1.0f);
    if (full) {
      if (!dgamma) pl->dscale_scratch.resize(static_cast<size_t>(p.C));
      if (!dbeta) pl->dshift_scratch.resize(static_cast<size_t>(p.C));
      pl->zeros.assign(static_cast<size_t>(p.C), 0.0f);
      pl->shift = dnnl::memory(m.param, engine(), pl->zeros.data());
    }
    return pl;
  });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  for (int64_t i = 0; i < p.outer; ++i) {
    const double r = rstd[i];
    plan->var_buf[i] = static_cast<float>(std::max(0.0, 1.0 / (r * r) - p.eps));
  }
  FG_DNNL_CHECK("layer_norm_backward", {
    plan->dy.set_data_handle(const_cast<float*>(dy));
    plan->x.set_data_handle(const_cast<float*>(x));
    plan->mean.set_data_handle(const_cast<float*>(mean));
    plan->dx.set_data_handle(dx);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, plan->dy},
                                               {DNNL_ARG_SRC, plan->x},
                                               {DNNL_ARG_MEAN, plan->mean},
                                               {DNNL_ARG_VARIANCE, plan->var},
                                               {DNNL_ARG_DIFF_SRC, plan->dx}};
    if (full) {
      plan->scale.set_data_handle(gamma ? const_cast<float*>(gamma) : plan->ones.data());
      plan->dscale.set_data_handle(dgamma ? dgamma : plan->dscale_scratch.data());
      plan->dshift.set_data_handle(dbeta ? dbeta : plan->dshift_scratch.data());
      args[DNNL_ARG_SCALE] = plan->scale;
      args[DNNL_ARG_SHIFT] = plan->shift;
      args[DNNL_ARG_DIFF_SCALE] = plan->dscale;
      args[DNNL_ARG_DIFF_SHIFT] = plan->dshift;
    }
    plan->prim.execute(stream(), args);
    stream().wait();
  });
  return true;
}

}  // namespace fg::cpu::onednn
