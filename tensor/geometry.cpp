#include "tensor/geometry.h"

namespace fg {

ElementwiseParams elementwise_params(const char* op, const Tensor& out, std::initializer_list<const Tensor*> inputs) {
  const Shape& os = out.shape();
  FG_CHECK(os.size() <= static_cast<size_t>(kMaxDims), "{}: rank {} is above the supported {}", op, os.size(),
           kMaxDims);
  FG_CHECK(inputs.size() + 1 <= static_cast<size_t>(kMaxOperands), "{}: too many operands", op);
  ElementwiseParams e;
  e.operands = static_cast<int64_t>(inputs.size()) + 1;
  // per operand, strides aligned to out's dims
  int64_t st[kMaxOperands][kMaxDims] = {};
  const size_t r = os.size();
  for (size_t i = 0; i < r; ++i) st[0][i] = out.strides()[i];
  int k = 1;
  for (const Tensor* t : inputs) {
    const Shape& s = t->shape();
    FG_CHECK(s.size() <= r, "{}: input {} has a higher rank than the output {}", op, shape_str(s), shape_str(os));
    size_t lead = r - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      FG_CHECK(s[i] == os[lead + i] || s[i] == 1, "{}: input {} does not broadcast to {}", op, shape_str(s),
               shape_str(os));
      st[k][lead + i] = s[i] == 1 ? 0 : t->strides()[i];
    }
    ++k;
  }
  // drop size-1 dims, then merge dim i into the one after it where all operands allow
  for (size_t i = 0; i < r; ++i) {
    if (os[i] == 1) continue;
    int64_t d = e.rank;
    bool merge = d > 0;
    for (int o = 0; merge && o < e.operands; ++o) merge = e.strides[o][d - 1] == st[o][i] * os[i];
    if (merge) {
      e.shape[d - 1] *= os[i];
      for (int o = 0; o < e.operands; ++o) e.strides[o][d - 1] = st[o][i];
    } else {
      e.shape[d] = os[i];
      for (int o = 0; o < e.operands; ++o) e.strides[o][d] = st[o][i];
      ++e.rank;
    }
  }
  return e;
}

namespace {
// Appends (size, stride) as a new dim or merges it into the previous one (which is outer to it).
void push_dim(int64_t* shape, int64_t* strides, int64_t& rank, int64_t size, int64_t stride) {
  if (size == 1) return;
  if (rank > 0 && strides[rank - 1] == stride * size) {
    shape[rank - 1] *= size;
    strides[rank - 1] = stride;
    return;
  }
  shape[rank] = size;
  strides[rank] = stride;
  ++rank;
}
}  // namespace

ReduceParams reduce_params(const char* op, const Tensor& x, const std::vector<bool>& reduced) {
  FG_CHECK(x.dim() <= kMaxDims, "{}: rank {} is above the supported {}", op, x.dim(), kMaxDims);
  ReduceParams p;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (reduced[i]) push_dim(p.red_shape, p.red_strides, p.red_rank, x.shape()[i], x.strides()[i]);
    else push_dim(p.out_shape, p.in_strides, p.out_rank, x.shape()[i], x.strides()[i]);
  }
  return p;
}

}  // namespace fg
