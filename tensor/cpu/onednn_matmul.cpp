// oneDNN f32 batched matmul: C[b] = op(A[b]) * op(B[b]) with the layouts of MatmulParams.
// Everything is described to oneDNN with explicit strides on 3-D descs {batch, rows, cols}, so no
// reorders are needed: a transpose is a swapped pair of strides, a batch stride of 0 is a batch dim
// of 1 that oneDNN broadcasts (when both operands broadcast, one product is computed and copied).
// Returns false (reference runs) for empty shapes and for cases oneDNN rejects (cached as such).
#include <algorithm>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/onednn_common.h"

namespace fg::cpu::onednn {
namespace {

struct MatmulPlan {
  dnnl::matmul prim;
  dnnl::memory a, b, c;
};

std::shared_ptr<MatmulPlan> build(const MatmulParams& p) {
  const int64_t ab = p.a_batch_stride == 0 ? 1 : p.batch;
  const int64_t bb = p.b_batch_stride == 0 ? 1 : p.batch;
  const int64_t as = p.a_batch_stride == 0 ? p.M * p.K : p.a_batch_stride;
  const int64_t bs = p.b_batch_stride == 0 ? p.K * p.N : p.b_batch_stride;
  // A is MxK (stored KxM when trans_a); B is KxN (stored NxK when trans_b).
  md a_md({ab, p.M, p.K}, dt::f32, p.trans_a ? dims{as, 1, p.M} : dims{as, p.K, 1});
  md b_md({bb, p.K, p.N}, dt::f32, p.trans_b ? dims{bs, 1, p.K} : dims{bs, p.N, 1});
  md c_md({p.batch, p.M, p.N}, dt::f32, dims{p.M * p.N, p.N, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine());
  auto plan = std::make_shared<MatmulPlan>();
  plan->prim = dnnl::matmul(pd);
  plan->a = dnnl::memory(a_md, engine(), DNNL_MEMORY_NONE);
  plan->b = dnnl::memory(b_md, engine(), DNNL_MEMORY_NONE);
  plan->c = dnnl::memory(c_md, engine(), DNNL_MEMORY_NONE);
  return plan;
}

}  // namespace

bool matmul(const float* a, const float* b, float* c, const MatmulParams& p) {
  if (p.batch <= 0 || p.M <= 0 || p.N <= 0 || p.K <= 0) return false;
  if (p.batch > 1 && p.a_batch_stride == 0 && p.b_batch_stride == 0) {
    // Both operands broadcast (oneDNN rejects it): every C[b] is the same product.
    MatmulParams one = p;
    one.batch = 1;
    if (!matmul(a, b, c, one)) return false;
    for (int64_t i = 1; i < p.batch; ++i) std::copy(c, c + p.M * p.N, c + i * p.M * p.N);
    return true;
  }
  static PlanCache<MatmulPlan> cache;
  auto plan = cache.get(plan_key(p, 0, max_threads()), [&] { return build(p); });
  if (!plan) return false;
  std::lock_guard<std::mutex> lock(exec_mutex());
  FG_DNNL_CHECK("matmul", {
    plan->a.set_data_handle(const_cast<float*>(a));
    plan->b.set_data_handle(const_cast<float*>(b));
    plan->c.set_data_handle(c);
    plan->prim.execute(stream(), {{DNNL_ARG_SRC, plan->a}, {DNNL_ARG_WEIGHTS, plan->b}, {DNNL_ARG_DST, plan->c}});
    stream().wait();
  });
  return true;
}

}  // namespace fg::cpu::onednn
