// Backend parity of the dense kernels: matmul, conv2d (forward, backward data, backward weights,
// ReLU fused), tap_sum, layer norm (gated too), slogdet and inverse, on the harness of
// parity_harness.h (tolerance classes kDense and kLinalg; tap_sum is kElementwise).
#include "parity_harness.h"
#include "tensor/ops_internal.h"

using namespace fg;
using namespace fg::parity;

void parity_tap_sum() {
  check_typed("tap_sum k3", kElementwise, [](Backend& b, Device d, DType t) {
      Tensor z = input({8, 36, 14, 14}, t, 23, d), y = out({8, 4, 14, 14}, t, d);
      b.tap_sum({8, 4, 14, 14, 3, 1}, z, y);
      return std::vector<Tensor>{y};
    });
}

void parity_tap_sum_backward() {
  check_typed("tap_sum backward k3", kElementwise, [](Backend& b, Device d, DType t) {
      Tensor g = input({8, 4, 14, 14}, t, 24, d), dz = out({8, 36, 14, 14}, t, d);
      b.tap_sum_backward({8, 4, 14, 14, 3, 1}, g, dz);
      return std::vector<Tensor>{dz};
    });
}

void parity_matmul() {
  for (DType t : kTypes)
    for (int64_t ta : {0, 1})
      for (int64_t tb : {0, 1})
        for (bool bcast : {false, true})
          check("matmul", kDense, [=](Backend& b, Device d) {
            const int64_t B = 3, M = 37, N = 29, K = 64;
            Tensor x = input({B, M, K}, t, 20, d), y = input({bcast ? 1 : B, K, N}, t, 21, d);
            MatmulParams p{B, M, N, K, ta, tb, M * K, bcast ? 0 : K * N};
            Tensor o = out({B, M, N}, t, d);
            b.matmul(p, x, y, o);
            return std::vector<Tensor>{o};
          });
}

namespace {
struct ConvCase {
  int64_t n, hw, cin, cout, k;
};
// the tutorial's GatedConvNet convs (simple/multiscale, v1 and v2): batch 64 all, batch 128 a few
std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> c;
  const ConvCase shapes[] = {{0, 28, 1, 32, 3},  {0, 28, 32, 32, 3}, {0, 28, 64, 32, 3}, {0, 28, 64, 64, 1},
                             {0, 28, 64, 2, 3},  {0, 14, 4, 48, 3},  {0, 14, 48, 48, 3}, {0, 14, 96, 48, 3},
                             {0, 14, 96, 96, 1}, {0, 14, 96, 8, 3},  {0, 7, 8, 64, 3},   {0, 7, 64, 64, 3},
                             {0, 7, 128, 64, 3}, {0, 7, 128, 128, 1}, {0, 7, 128, 16, 3}};
  for (auto s : shapes) c.push_back({64, s.hw, s.cin, s.cout, s.k});
  for (auto s : {shapes[1], shapes[7], shapes[12]}) c.push_back({128, s.hw, s.cin, s.cout, s.k});
  return c;
}
Conv2dParams conv_params(const ConvCase& c, int64_t stride = 1, int64_t groups = 1) {
  ConvOptions o;
  o.padding = c.k / 2;
  o.stride = stride;
  o.groups = groups;
  return conv2d_params({c.n, c.cin, c.hw, c.hw}, {c.cout, c.cin / groups, c.k, c.k}, o, "parity");
}
std::string conv_name(const char* what, const Conv2dParams& p) {
  return fmt::format("{} N{} {}->{} {}x{} k{} s{} g{}{}", what, p.N, p.C, p.O, p.H, p.W, p.KH, p.stride_h, p.groups,
                     p.relu ? " relu" : "");
}
std::vector<Conv2dParams> all_convs() {
  std::vector<Conv2dParams> v;
  for (auto& c : conv_cases()) v.push_back(conv_params(c));
  v.push_back(conv_params({4, 14, 6, 8, 4}, 2));     // the autoencoder's 4x4 stride-2 convs
  v.push_back(conv_params({2, 9, 8, 12, 3}, 1, 4));  // grouped
  return v;
}
}  // namespace

void parity_conv2d_forward() {
  std::vector<Conv2dParams> convs = all_convs();
  for (ConvCase c : {ConvCase{64, 14, 2, 128, 3}, ConvCase{4, 9, 8, 12, 1}}) {  // ReLU fused (glow's net)
    convs.push_back(conv_params(c));
    convs.back().relu = 1;
  }
  for (auto& p : convs)
    for (DType t : kTypes) {
      if (t == DType::F64 && p.N > 4) continue;  // f64 runs the reference on both sides of the CPU
      check(conv_name("conv2d forward", p), kDense, [=](Backend& b, Device d) {
        Tensor x = input({p.N, p.C, p.H, p.W}, t, 22, d), w = input({p.O, p.C / p.groups, p.KH, p.KW}, t, 23, d);
        Tensor bias = input({p.O}, t, 24, d), y = out({p.N, p.O, p.OH, p.OW}, t, d);
        b.conv2d_forward(p, x, w, &bias, y);
        return std::vector<Tensor>{y};
      });
    }
}

void parity_conv2d_backward_data() {
  for (auto& p : all_convs())
    check(conv_name("conv2d backward data", p), kDense, [=](Backend& b, Device d) {
      Tensor dy = input({p.N, p.O, p.OH, p.OW}, DType::F32, 25, d), w = input({p.O, p.C / p.groups, p.KH, p.KW},
                                                                             DType::F32, 26, d);
      Tensor dx = out({p.N, p.C, p.H, p.W}, DType::F32, d);
      b.conv2d_backward_data(p, dy, w, dx);
      return std::vector<Tensor>{dx};
    });
}

void parity_conv2d_backward_weights() {
  for (auto& p : all_convs())
    check(conv_name("conv2d backward weights", p), kDense, [=](Backend& b, Device d) {
      Tensor x = input({p.N, p.C, p.H, p.W}, DType::F32, 27, d), dy = input({p.N, p.O, p.OH, p.OW}, DType::F32, 28, d);
      Tensor dw = out({p.O, p.C / p.groups, p.KH, p.KW}, DType::F32, d), db = out({p.O}, DType::F32, d);
      b.conv2d_backward_weights(p, x, dy, dw, &db);
      return std::vector<Tensor>{dw, db};
    });
}

namespace {
// the flows' LayerNormChannels ([N, C, H, W] over C) and a last-dim norm (inner 1, oneDNN's case)
std::vector<LayerNormParams> ln_cases() {
  return {{64, 32, 28 * 28, 1e-5}, {128, 48, 14 * 14, 1e-5}, {64, 64, 7 * 7, 1e-5}, {300, 96, 1, 1e-5}};
}
}  // namespace

void parity_layer_norm_forward_gated();

void parity_layer_norm_forward() {
  for (auto& p : ln_cases())
    for (DType t : kTypes)
      check(fmt::format("layer norm [{}, {}, {}]", p.outer, p.C, p.inner), kDense, [=](Backend& b, Device d) {
        Tensor x = input({p.outer, p.C, p.inner}, t, 29, d, -3, 3), ga = input({p.C}, t, 30, d, 0.5, 1.5),
               be = input({p.C}, t, 31, d);
        Tensor y = out(x.shape(), t, d), m = out({p.outer * p.inner}, t, d), r = out({p.outer * p.inner}, t, d);
        b.layer_norm_forward(p, x, nullptr, &ga, &be, y, m, r);
        return std::vector<Tensor>{y, m, r};
      });
  parity_layer_norm_forward_gated();
}

void parity_layer_norm_forward_gated() {
  for (auto& p : ln_cases())
    if (p.inner > 1)
      for (DType t : kTypes)
        check(fmt::format("gated residual + layer norm [{}, {}, {}]", p.outer, p.C, p.inner), kDense,
              [=](Backend& b, Device d) {
                Tensor x = input({p.outer, p.C, p.inner}, t, 34, d, -3, 3), h = input({p.outer, 2 * p.C, p.inner}, t, 35, d, -3, 3);
                Tensor ga = input({p.C}, t, 36, d, 0.5, 1.5), be = input({p.C}, t, 37, d);
                Tensor y = out(x.shape(), t, d), m = out({p.outer * p.inner}, t, d), r = out({p.outer * p.inner}, t, d);
                b.layer_norm_forward(p, x, &h, &ga, &be, y, m, r);
                return std::vector<Tensor>{y, m, r};
              });
}

void parity_layer_norm_backward() {
  for (auto& p : ln_cases())
    check(fmt::format("layer norm backward [{}, {}, {}]", p.outer, p.C, p.inner), kDense, [=](Backend& b, Device d) {
      Tensor x = input({p.outer, p.C, p.inner}, DType::F32, 32, d, -3, 3), ga = input({p.C}, DType::F32, 33, d, 0.5, 1.5);
      LayerNormResult fwd = layer_norm_forward(x.reshape({p.outer, p.C, p.inner}), 1, &ga, nullptr);
      Tensor dy = input(x.shape(), DType::F32, 34, d);
      Tensor dx = out(x.shape(), DType::F32, d), dg = out({p.C}, DType::F32, d), dbeta = out({p.C}, DType::F32, d);
      b.layer_norm_backward(p, dy, x, &ga, fwd.mean, fwd.rstd, dx, &dg, &dbeta);
      return std::vector<Tensor>{dx, dg, dbeta};
    });
}

void parity_slogdet() {
  for (DType t : kTypes)
    for (int64_t n : {4, 8, 48})
      check("slogdet " + std::to_string(n), kLinalg, [=](Backend& b, Device d) {
        Tensor a = input({n, n}, t, 35, d);
        Tensor l = out({}, t, d), s = out({}, t, d);
        b.slogdet(a, l, s);
        return std::vector<Tensor>{l, s};
      });
}

void parity_inverse() {
  for (DType t : kTypes)
    for (int64_t n : {4, 8, 48})
      check("inverse " + std::to_string(n), kLinalg, [=](Backend& b, Device d) {
        Tensor a = input({n, n}, t, 36, d) + eye(n, t, d) * 4.0;
        Tensor o = out({n, n}, t, d);
        b.inverse(a, o);
        return std::vector<Tensor>{o};
      });
}
