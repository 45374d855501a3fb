// Dense ops: batched matmul, conv2d (+ both backward kernels), conv_transpose2d (expressed through
// the conv kernels: its forward is conv's backward-data), layer norm over any dim. Their kernels
// need dense memory, so each takes contiguous() of its inputs here (a no-op for dense tensors).
#include <cstdlib>
#include <string>

#include "tensor/ops_check.h"
#include "tensor/ops_internal.h"

namespace fg {

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  detail::check_same("matmul", a, b);
  detail::check_float("matmul", a);
  FG_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: both operands need rank >= 2, got {} and {}", shape_str(a.shape()),
           shape_str(b.shape()));
  const Shape &as = a.shape(), &bs = b.shape();
  int64_t M = ta ? as[as.size() - 1] : as[as.size() - 2], Ka = ta ? as[as.size() - 2] : as[as.size() - 1];
  int64_t Kb = tb ? bs[bs.size() - 1] : bs[bs.size() - 2], N = tb ? bs[bs.size() - 2] : bs[bs.size() - 1];
  FG_CHECK(Ka == Kb, "matmul: inner dimensions differ ({}{} @ {}{})", shape_str(as), ta ? "^T" : "", shape_str(bs),
           tb ? "^T" : "");
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  int64_t na = numel(ab), nb = numel(bb);
  FG_CHECK(ab == bb || na == 1 || nb == 1, "matmul: batch dims of {} and {} do not match", shape_str(as),
           shape_str(bs));
  Shape out = (na >= nb && !ab.empty()) ? ab : bb;
  int64_t batch = std::max(na, nb);
  out.push_back(M);
  out.push_back(N);
  MatmulParams p{batch, M, N, Ka, ta, tb, na == 1 ? 0 : M * Ka, nb == 1 ? 0 : Ka * N};
  Tensor c = Tensor::empty(out, a.dtype(), a.device());
  if (c.numel() == 0) return c;
  if (Ka == 0) return zeros(out, a.dtype(), a.device());
  launch(a.device()).matmul(p, a.contiguous(), b.contiguous(), c);
  return c;
}

namespace {
// NCHW or [N, C/b, H, W, b] -> {N, C, H, W}
Shape logical_nchw(const Shape& s, int64_t block, const char* op, const char* what) {
  if (block == 0) {
    FG_CHECK(s.size() == 4, "{}: {} must be [N, C, H, W], got {}", op, what, shape_str(s));
    return s;
  }
  FG_CHECK(s.size() == 5 && s[4] == block, "{}: channel-blocked {} must be [N, C/{}, H, W, {}], got {}", op, what,
           block, block, shape_str(s));
  return {s[0], s[1] * block, s[2], s[3]};
}

Shape conv2d_output_shape(const Conv2dParams& p) {
  return p.dst_block ? Shape{p.N, p.O / p.dst_block, p.OH, p.OW, p.dst_block} : Shape{p.N, p.O, p.OH, p.OW};
}
}  // namespace

int64_t conv_channel_block(const Tensor& x) { return backend_of(x.device()).conv_channel_block(x.dtype()); }

bool conv_runs_fast(const Tensor& x, const Shape& w, const ConvOptions& o, bool backward) {
  Backend& b = backend_of(x.device());
  const Conv2dParams p = conv2d_params(x.shape(), w, o, "conv_runs_fast");
  if (!b.conv_choice(p, x.dtype(), ConvDir::Forward).fast) return false;
  if (!backward) return true;
  const Backend::ConvChoice data = b.conv_choice(p, x.dtype(), ConvDir::BackwardData);
  return (data.fast || data.taps) && b.conv_choice(p, x.dtype(), ConvDir::BackwardWeights).fast;
}

Conv2dParams conv2d_params(const Shape& xs, const Shape& w, const ConvOptions& o, const char* op) {
  FG_CHECK(o.src_block >= 0 && o.dst_block >= 0, "{}: negative channel block", op);
  const Shape x = logical_nchw(xs, o.src_block, op, "input");
  FG_CHECK(w.size() == 4, "{}: weight must be [O, C/groups, KH, KW], got {}", op, shape_str(w));
  FG_CHECK(o.groups >= 1 && x[1] % o.groups == 0 && w[0] % o.groups == 0,
           "{}: groups={} must divide input channels ({}) and output channels ({})", op, o.groups, x[1], w[0]);
  FG_CHECK(w[1] * o.groups == x[1], "{}: weight {} expects {} input channels, input {} has {}", op, shape_str(w),
           w[1] * o.groups, shape_str(xs), x[1]);
  FG_CHECK(o.stride.h > 0 && o.stride.w > 0 && o.dilation.h > 0 && o.dilation.w > 0 && o.padding.h >= 0 &&
               o.padding.w >= 0,
           "{}: stride and dilation must be positive and padding non-negative", op);
  FG_CHECK((o.src_block == 0 && o.dst_block == 0) || o.groups == 1, "{}: channel-blocked layouts need groups=1", op);
  FG_CHECK(o.dst_block == 0 || w[0] % o.dst_block == 0, "{}: {} output channels do not split into blocks of {}", op,
           w[0], o.dst_block);
  Conv2dParams p{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0,
                 o.stride.h, o.stride.w, o.padding.h, o.padding.w, o.dilation.h, o.dilation.w, o.groups,
                 o.src_block, o.dst_block, o.relu ? 1 : 0};
  p.OH = (p.H + 2 * p.pad_h - p.dil_h * (p.KH - 1) - 1) / p.stride_h + 1;
  p.OW = (p.W + 2 * p.pad_w - p.dil_w * (p.KW - 1) - 1) / p.stride_w + 1;
  FG_CHECK(p.OH > 0 && p.OW > 0, "{}: kernel {}x{} does not fit input {} with padding {}x{}", op, p.KH, p.KW,
           shape_str(xs), p.pad_h, p.pad_w);
  return p;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& o) {
  detail::check_same("conv2d", x, w);
  detail::check_float("conv2d", x);
  Conv2dParams p = conv2d_params(x.shape(), w.shape(), o, "conv2d");
  if (bias) {
    detail::check_same("conv2d", x, *bias);
    FG_CHECK(bias->shape() == Shape{p.O}, "conv2d: bias must be [{}], got {}", p.O, shape_str(bias->shape()));
  }
  Tensor y = Tensor::empty(conv2d_output_shape(p), x.dtype(), x.device());
  Tensor bc = bias ? bias->contiguous() : Tensor();
  launch(x.device()).conv2d_forward(p, x.contiguous(), w.contiguous(), bias ? &bc : nullptr, y);
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const ConvOptions& o) {
  detail::check_same("conv2d_backward_data", dy, w);
  Conv2dParams p = conv2d_params(x_shape, w.shape(), o, "conv2d_backward_data");
  FG_CHECK(dy.shape() == conv2d_output_shape(p), "conv2d_backward_data: grad {} does not match output {}",
           shape_str(dy.shape()), shape_str(conv2d_output_shape(p)));
  if (backend_of(dy.device()).conv_choice(p, dy.dtype(), ConvDir::BackwardData).taps) {
    // dx[c, h, w] = sum dy[o, h + i - pad, w + j - pad] * w[o, c, K-1-i, K-1-j]: the 1x1 weight's
    // row (i*K + j)*C + c is the flipped kernel's [:, c, i, j]
    // (rows past K*K*C zero, to a whole block: the 1x1 conv writes its output blocked, as tap_sum reads it)
    const int64_t k = p.KH, b = o.dst_block, taps = k * k * p.C, padded = tap_channels(k, p.C, b);
    Tensor w1 = permute(flip(flip(w, 2), 3), {2, 3, 1, 0}).contiguous().reshape({taps, p.O, 1, 1});
    if (padded > taps) w1 = concat({w1, zeros({padded - taps, p.O, 1, 1}, w.dtype(), w.device())}, 0);
    ConvOptions o1;
    o1.src_block = b;
    o1.dst_block = b;
    return tap_sum(conv2d(dy, w1, nullptr, o1), k, p.C);
  }
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  launch(dy.device()).conv2d_backward_data(p, dy.contiguous(), w.contiguous(), dx);
  return dx;
}

Tensor conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Shape& w_shape, const ConvOptions& o,
                               Tensor* dbias) {
  detail::check_same("conv2d_backward_weights", x, dy);
  Conv2dParams p = conv2d_params(x.shape(), w_shape, o, "conv2d_backward_weights");
  FG_CHECK(dy.shape() == conv2d_output_shape(p), "conv2d_backward_weights: grad {} does not match output {}",
           shape_str(dy.shape()), shape_str(conv2d_output_shape(p)));
  Tensor dw = Tensor::empty(w_shape, x.dtype(), x.device());
  if (dbias) *dbias = Tensor::empty({p.O}, x.dtype(), x.device());
  launch(x.device()).conv2d_backward_weights(p, x.contiguous(), dy.contiguous(), dw, dbias);
  return dw;
}

Conv2dParams conv_transpose2d_params(const Shape& x, const Shape& w, const ConvOptions& o) {
  const char* op = "conv_transpose2d";
  FG_CHECK(o.src_block == 0 && o.dst_block == 0, "{}: channel-blocked layouts are for conv2d only", op);
  FG_CHECK(x.size() == 4, "{}: input must be [N, C, H, W], got {}", op, shape_str(x));
  FG_CHECK(w.size() == 4, "{}: weight must be [Cin, Cout/groups, KH, KW], got {}", op, shape_str(w));
  FG_CHECK(w[0] == x[1], "{}: weight {} expects {} input channels, input {} has {}", op, shape_str(w), w[0],
           shape_str(x), x[1]);
  FG_CHECK(o.output_padding.h >= 0 && o.output_padding.w >= 0 &&
               (o.output_padding.h < o.stride.h || o.output_padding.h < o.dilation.h) &&
               (o.output_padding.w < o.stride.w || o.output_padding.w < o.dilation.w),
           "{}: output_padding must be smaller than stride or dilation", op);
  int64_t OH = (x[2] - 1) * o.stride.h - 2 * o.padding.h + o.dilation.h * (w[2] - 1) + o.output_padding.h + 1;
  int64_t OW = (x[3] - 1) * o.stride.w - 2 * o.padding.w + o.dilation.w * (w[3] - 1) + o.output_padding.w + 1;
  FG_CHECK(OH > 0 && OW > 0, "{}: output would be empty for input {} and weight {}", op, shape_str(x), shape_str(w));
  Conv2dParams p = conv2d_params({x[0], w[1] * o.groups, OH, OW}, w, o, op);
  FG_CHECK(p.OH == x[2] && p.OW == x[3], "{}: inconsistent geometry for input {} and weight {}", op, shape_str(x),
           shape_str(w));
  return p;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& o) {
  detail::check_same("conv_transpose2d", x, w);
  detail::check_float("conv_transpose2d", x);
  Conv2dParams p = conv_transpose2d_params(x.shape(), w.shape(), o);
  Tensor y = Tensor::empty({p.N, p.C, p.H, p.W}, x.dtype(), x.device());
  launch(x.device()).conv2d_backward_data(p, x.contiguous(), w.contiguous(), y);
  if (bias) {
    detail::check_same("conv_transpose2d", x, *bias);
    FG_CHECK(bias->shape() == Shape{p.C}, "conv_transpose2d: bias must be [{}], got {}", p.C,
             shape_str(bias->shape()));
    y = y + bias->reshape({1, p.C, 1, 1});
  }
  return y;
}

namespace {
LayerNormParams ln_params(const Tensor& x, int64_t dim, double eps, int64_t block) {
  const Shape& s = x.shape();
  int d = normalize_dim(dim, s.size(), "layer_norm");
  if (block > 0) {  // [N, C/b, ..., b], normalized over the C channels of dim 1 and the last dim
    FG_CHECK(d == 1 && s.size() >= 3 && s.back() == block,
             "layer_norm: a channel-blocked input is [N, C/{0}, ..., {0}] normalized over dim 1, got {1} over dim {2}",
             block, shape_str(s), dim);
    LayerNormParams p{s[0], s[1] * block, 1, eps, block};
    for (size_t i = 2; i + 1 < s.size(); ++i) p.inner *= s[i];
    return p;
  }
  LayerNormParams p{1, s[d], 1, eps};
  for (int i = 0; i < d; ++i) p.outer *= s[i];
  for (size_t i = d + 1; i < s.size(); ++i) p.inner *= s[i];
  return p;
}
}  // namespace

namespace {
LayerNormResult layer_norm_of(const Tensor& x, const Tensor* gate, int64_t dim, const Tensor* gamma, const Tensor* beta,
                              double eps, int64_t block) {
  detail::check_float("layer_norm", x);
  LayerNormParams p = ln_params(x, dim, eps, block);
  for (const Tensor* t : {gamma, beta})
    if (t) {
      detail::check_same("layer_norm", x, *t);
      FG_CHECK(t->shape() == Shape{p.C}, "layer_norm: weight/bias must be [{}] for input {}, got {}", p.C,
               shape_str(x.shape()), shape_str(t->shape()));
    }
  LayerNormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
                    Tensor::empty({p.outer * p.inner}, x.dtype(), x.device()),
                    Tensor::empty({p.outer * p.inner}, x.dtype(), x.device()), eps, block};
  Tensor gc = gamma ? gamma->contiguous() : Tensor(), bc = beta ? beta->contiguous() : Tensor();
  Tensor hc = gate ? gate->contiguous() : Tensor();
  launch(x.device()).layer_norm_forward(p, x.contiguous(), gate ? &hc : nullptr, gamma ? &gc : nullptr,
                                        beta ? &bc : nullptr, r.y, r.mean, r.rstd);
  return r;
}
}  // namespace

LayerNormResult layer_norm_forward(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta, double eps,
                                   int64_t block) {
  return layer_norm_of(x, nullptr, dim, gamma, beta, eps, block);
}

Tensor layer_norm(const Tensor& x, int64_t dim, const Tensor* gamma, const Tensor* beta, double eps, int64_t block) {
  return layer_norm_forward(x, dim, gamma, beta, eps, block).y;
}

Tensor gated_residual_layer_norm(const Tensor& x, const Tensor& h, const Tensor* gamma, const Tensor* beta,
                                 double eps, int64_t block) {
  return gated_residual_layer_norm_forward(x, h, gamma, beta, eps, block).y;
}

LayerNormResult gated_residual_layer_norm_forward(const Tensor& x, const Tensor& h, const Tensor* gamma,
                                                  const Tensor* beta, double eps, int64_t block) {
  detail::check_same("gated_residual_layer_norm", x, h);
  Shape hs = x.shape();
  if (hs.size() >= 2) hs[1] *= 2;
  FG_CHECK(x.dim() >= 2 && h.shape() == hs,
           "gated_residual_layer_norm: needs x [N, C, ...] and h [N, 2C, ...], got {} and {}", shape_str(x.shape()),
           shape_str(h.shape()));
  return layer_norm_of(x, &h, 1, gamma, beta, eps, block);
}

LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, int64_t dim, const Tensor* gamma,
                                   const LayerNormResult& fwd, bool need_affine_grads) {
  detail::check_same("layer_norm_backward", dy, x);
  LayerNormParams p = ln_params(x, dim, fwd.eps, fwd.block);
  LayerNormGrads g{Tensor::empty(x.shape(), x.dtype(), x.device()), {}, {}};
  if (need_affine_grads) {
    g.dgamma = Tensor::empty({p.C}, x.dtype(), x.device());
    g.dbeta = Tensor::empty({p.C}, x.dtype(), x.device());
  }
  Tensor gc = gamma ? gamma->contiguous() : Tensor();
  launch(x.device()).layer_norm_backward(p, dy.contiguous(), x.contiguous(), gamma ? &gc : nullptr, fwd.mean, fwd.rstd,
                                         g.dx, need_affine_grads ? &g.dgamma : nullptr,
                                         need_affine_grads ? &g.dbeta : nullptr);
  return g;
}

namespace {
void check_taps_kernel(int64_t k, const char* op) {
  FG_CHECK(k >= 1 && k % 2 == 1, "{}: the kernel size must be odd and positive, got {}", op, k);
}

}  // namespace

int64_t tap_channels(int64_t k, int64_t o, int64_t block) {
  const int64_t taps = k * k * o;
  return block > 0 ? (taps + block - 1) / block * block : taps;
}

Tensor tap_sum(const Tensor& z, int64_t k, int64_t o) {
  detail::check_float("tap_sum", z);
  check_taps_kernel(k, "tap_sum");
  const Shape& s = z.shape();
  TapSumParams p;
  if (s.size() == 5) {
    const int64_t channels = s[1] * s[4];
    FG_CHECK(o > 0 && channels == tap_channels(k, o, s[4]),
             "tap_sum: a blocked {} holds {} channels, not {}*{} rounded up to a block of {}", shape_str(s), channels,
             k * k, o, s[4]);
    p = {s[0], o, s[2], s[3], k, k / 2, s[4]};
  } else {
    FG_CHECK(s.size() == 4 && s[1] % (k * k) == 0 && (o == 0 || s[1] == k * k * o),
             "tap_sum: needs [N, {}*O, H, W], got {}", k * k, shape_str(s));
    p = {s[0], s[1] / (k * k), s[2], s[3], k, k / 2};
  }
  Tensor y = Tensor::empty({p.N, p.O, p.H, p.W}, z.dtype(), z.device());
  launch(z.device()).tap_sum(p, z.contiguous(), y);
  return y;
}

Tensor tap_sum_backward(const Tensor& dy, int64_t k, int64_t block) {
  detail::check_float("tap_sum_backward", dy);
  check_taps_kernel(k, "tap_sum_backward");
  const Shape& s = dy.shape();
  FG_CHECK(s.size() == 4, "tap_sum_backward: needs [N, O, H, W], got {}", shape_str(s));
  FG_CHECK(block >= 0, "tap_sum_backward: negative channel block {}", block);
  const TapSumParams p{s[0], s[1], s[2], s[3], k, k / 2, block};
  const int64_t channels = tap_channels(k, p.O, block);
  const Shape dz_shape = block ? Shape{p.N, channels / block, p.H, p.W, block} : Shape{p.N, channels, p.H, p.W};
  Tensor dz = Tensor::empty(dz_shape, dy.dtype(), dy.device());
  launch(dy.device()).tap_sum_backward(p, dy.contiguous(), dz);
  return dz;
}


}  // namespace fg
