// The int arguments that cuBLAS and cuDNN take, from flowgrad's int64 params, each checked to fit
// (an fg::Error naming the op and the value instead of a silent wrap above 2^31). cuDNN's 4-d
// descriptors also keep int strides, so each tensor's element count must fit too.
#pragma once
#include "flowgrad/detail/params.h"
#include "tensor/cuda/cuda_check.h"

namespace fg::cuda {

// Row-major C = op(A) op(B) as column-major C^T = op(B)^T op(A)^T: m, n, k and the leading
// dimensions of the swapped call.
struct GemmDims {
  int m, n, k, lda, ldb, ldc, batch;
};
inline GemmDims gemm_dims(const MatmulParams& p) {
  const char* op = "matmul";
  GemmDims d;
  d.m = to_int(p.N, op, "N");
  d.n = to_int(p.M, op, "M");
  d.k = to_int(p.K, op, "K");
  d.ldb = to_int(p.trans_b ? p.K : p.N, op, "B's leading dimension");
  d.lda = to_int(p.trans_a ? p.M : p.K, op, "A's leading dimension");
  d.ldc = d.m;
  d.batch = to_int(p.batch, op, "batch");
  return d;
}

struct ConvDims {
  int N, C, H, W, O, OH, OW, KH, KW, I, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w, groups;
};
inline ConvDims conv_dims(const Conv2dParams& p) {
  const char* op = "conv2d";
  to_int(p.N * p.C * p.H * p.W, op, "the input's element count");
  to_int(p.N * p.O * p.OH * p.OW, op, "the output's element count");
  to_int(p.O * (p.C / p.groups) * p.KH * p.KW, op, "the weight's element count");
  return {to_int(p.N, op, "N"), to_int(p.C, op, "C"), to_int(p.H, op, "H"), to_int(p.W, op, "W"),
          to_int(p.O, op, "O"), to_int(p.OH, op, "OH"), to_int(p.OW, op, "OW"), to_int(p.KH, op, "KH"),
          to_int(p.KW, op, "KW"), to_int(p.C / p.groups, op, "C/groups"), to_int(p.pad_h, op, "pad_h"),
          to_int(p.pad_w, op, "pad_w"), to_int(p.stride_h, op, "stride_h"), to_int(p.stride_w, op, "stride_w"),
          to_int(p.dil_h, op, "dil_h"), to_int(p.dil_w, op, "dil_w"), to_int(p.groups, op, "groups")};
}

}  // namespace fg::cuda
