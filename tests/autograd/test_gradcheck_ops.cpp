// f64 central-difference gradient checks, one per differentiable op in flowgrad/detail/ops.def.
// Each gradcheck_<op> below is declared from that list and called by the test case at the end,
// so adding an op to the list without a check here fails to link.
#include <doctest/doctest.h>

#include "flowgrad/autograd/functional.h"
#include "flowgrad/autograd/gradcheck.h"
#include "tensor/ops_internal.h"

using namespace fg;
using namespace fg::ag;

namespace {

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Generator g(seed);
  return uniform(s, lo, hi, DType::F64, Device::cpu(), &g);
}
// values kept away from 0 by at least `gap` (for kinks such as relu/abs)
Tensor away_from_zero(const Shape& s, uint64_t seed, double gap = 0.05) {
  Tensor u = rnd(s, seed);
  return where(ge(u, scalar(0.0, DType::F64)), u + gap, u - gap);
}

void expect_ok(const char* what, const VarFn& f, const std::vector<Tensor>& in, GradcheckOptions o = {}) {
  GradcheckResult r = gradcheck(f, in, o);
  INFO(what, ": ", r.message);
  CHECK(r.ok);
  CHECK(r.checked > 0);
}

}  // namespace

#define FG_DIFF_OP(name) void gradcheck_##name();
#include "flowgrad/detail/ops.def"
#undef FG_DIFF_OP

// The elementwise table's ops: x sampled from the table's range, kept 0.05 away from 0 and from
// the op's parameters (kinks: relu/abs at 0, clamp at its bounds); binary ops also broadcast.
namespace {
Tensor table_sample(const Shape& s, uint64_t seed, double lo, double hi, double a, double b) {
  std::vector<double> v = rnd(s, seed, lo, hi).to_vector<double>();
  for (double& x : v)
    for (double k : {0.0, a, b})
      if (std::abs(x - k) < 0.05) x = k + (x < k ? -0.05 : 0.05);
  return from_vector(v, s);
}
}  // namespace

#define FG_UNARY(Name, fn, np, saves, fwd, bwd, lo, hi, a, b)                                           \
  void gradcheck_##fn() {                                                                              \
    [[maybe_unused]] const double pa = a, pb = b;                                                      \
    expect_ok(#fn, [=](auto& v) { return unary_call_##np(fn, v[0]); }, {table_sample({3, 4}, 100 + static_cast<int>(UnaryOp::Name), lo, hi, a, b)}); \
  }
#define unary_call_0(fn, x) fn(x)
#define unary_call_1(fn, x) fn(x, pa)
#define unary_call_2(fn, x) fn(x, pa, pb)
#define FG_BINARY(Name, fn, saves, fwd, ga, gb, flags, alo, ahi, blo, bhi)                              \
  void gradcheck_##fn() {                                                                              \
    const uint64_t s = 200 + 2 * static_cast<int>(BinaryOp::Name);                                     \
    expect_ok(#fn " same shape", [](auto& v) { return fn(v[0], v[1]); },                               \
              {rnd({3, 4}, s, alo, ahi), rnd({3, 4}, s + 1, blo, bhi)});                               \
    expect_ok(#fn " broadcast", [](auto& v) { return fn(v[0], v[1]); },                                \
              {rnd({2, 1, 4}, s, alo, ahi), rnd({3, 1}, s + 1, blo, bhi)});                            \
  }
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
#undef FG_BINARY
#undef unary_call_0
#undef unary_call_1
#undef unary_call_2

TEST_CASE("gradcheck: elementwise ops on strided views (a permuted and a sliced input)") {
  expect_ok("mul of views", [](auto& v) { return mul(permute(v[0], {1, 0}), slice(v[1], 1, 1, 5)); },
            {rnd({4, 3}, 300), rnd({3, 5}, 301)});
  expect_ok("tanh of a view", [](auto& v) { return tanh(permute(v[0], {1, 0})); }, {rnd({4, 3}, 302)});
  expect_ok("operators with scalars", [](auto& v) { return 3.0 - v[0] * 2.5 + v[0] / 4.0; }, {rnd({5}, 303)});
}

void gradcheck_where() {
  Tensor cond = gt(rnd({2, 3}, 22), scalar(0.0, DType::F64));
  // the condition is a constant: it goes to the device the check runs on (gradcheck moves the inputs)
  expect_ok("where broadcast", [cond](auto& v) { return where(cond.to(v[0].value().device()), v[0], v[1]); },
            {rnd({2, 3}, 23), rnd({3}, 24)});
}
void gradcheck_concat_elu() {
  expect_ok("concat_elu 4d", [](auto& v) { return concat_elu(v[0]); }, {away_from_zero({2, 3, 2, 2}, 90)});
  expect_ok("concat_elu 2d", [](auto& v) { return concat_elu(v[0]); }, {away_from_zero({3, 4}, 91)});
}
void gradcheck_gated_residual() {
  expect_ok("gated_residual 4d", [](auto& v) { return gated_residual(v[0], v[1]); },
            {rnd({2, 3, 2, 2}, 92), rnd({2, 6, 2, 2}, 93, -3, 3)});
  expect_ok("gated_residual 2d", [](auto& v) { return gated_residual(v[0], v[1]); },
            {rnd({3, 2}, 94), rnd({3, 4}, 95, -3, 3)});
}
// both outputs (y flattened, then logdet), and each alone (the other's gradient undefined), both
// directions; C = 3 with ca = 1 splits unevenly, h spans r + 2 in [-1, 5]
void gradcheck_sigmoid_coupling() {
  for (bool rev : {false, true}) {
    std::vector<Tensor> in = {rnd({2, 3, 2, 3}, 96), rnd({2, 4, 2, 3}, 97, -3, 3)};
    expect_ok(rev ? "sigmoid_coupling reverse, y and logdet" : "sigmoid_coupling, y and logdet", [rev](auto& v) {
      auto o = sigmoid_coupling(v[0], v[1], 1, 2.0, rev);
      return concat({flatten(o[0], 0), o[1]}, 0);
    }, in);
    expect_ok("sigmoid_coupling, y only", [rev](auto& v) { return sigmoid_coupling(v[0], v[1], 1, 2.0, rev)[0]; }, in);
    expect_ok("sigmoid_coupling, logdet only", [rev](auto& v) { return sigmoid_coupling(v[0], v[1], 1, 2.0, rev)[1]; },
              in);
  }
}
// without a tangent, with one (y and dy together, and each alone), beta both signs, x past +-8
void gradcheck_lipswish() {
  for (double beta : {0.7, -0.4}) {
    std::vector<Tensor> in = {rnd({2, 3, 2, 2}, 98, -9, 9), rnd({2, 3, 2, 2}, 99), full({1}, beta, DType::F64)};
    expect_ok("lipswish, no tangent", [](auto& v) { return lipswish(v[0], Var(), v[1])[0]; }, {in[0], in[2]});
    expect_ok("lipswish, y and dy", [](auto& v) {
      auto o = lipswish(v[0], v[1], v[2]);
      return concat({flatten(o[0], 0), flatten(o[1], 0)}, 0);
    }, in);
    // a constant tangent, moved to where the inputs are: y's gradient alone reaches x and beta
    const Tensor dx = in[1];
    expect_ok("lipswish, y only", [dx](auto& v) { return lipswish(v[0], Var(dx.to(v[0].value().device())), v[1])[0]; },
              {in[0], in[2]});
    expect_ok("lipswish, dy only", [](auto& v) { return lipswish(v[0], v[1], v[2])[1]; }, in);
  }
}
void gradcheck_sum() {
  expect_ok("sum all", [](auto& v) { return sum(v[0]); }, {rnd({2, 3, 4}, 25)});
  expect_ok("sum dims keepdim", [](auto& v) { return sum(v[0], {0, 2}, true); }, {rnd({2, 3, 4}, 26)});
  expect_ok("sum [1,2,3]", [](auto& v) { return sum(v[0], {1, 2, 3}); }, {rnd({2, 2, 3, 3}, 27)});
}
void gradcheck_mean() { expect_ok("mean", [](auto& v) { return mean(v[0], {1}); }, {rnd({2, 3, 4}, 28)}); }
void gradcheck_amax() { expect_ok("amax", [](auto& v) { return amax(v[0], {-1}); }, {rnd({3, 5}, 29)}); }
void gradcheck_amin() { expect_ok("amin", [](auto& v) { return amin(v[0], {0}, true); }, {rnd({3, 5}, 30)}); }
void gradcheck_logsumexp() {
  expect_ok("logsumexp", [](auto& v) { return logsumexp(v[0], {1}); }, {rnd({3, 5}, 31, -3, 3)});
}
void gradcheck_reshape() {
  expect_ok("reshape", [](auto& v) { return reshape(v[0], {3, -1}) * v[1]; }, {rnd({2, 6}, 32), rnd({3, 4}, 33)});
}
void gradcheck_contiguous() {
  expect_ok("contiguous of a permuted view", [](auto& v) { return contiguous(permute(v[0], {0, 2, 1})) * v[1]; },
            {rnd({2, 3, 4}, 96), rnd({2, 4, 3}, 97)});
}
void gradcheck_permute() {
  expect_ok("permute", [](auto& v) { return permute(v[0], {0, 2, 3, 1}); }, {rnd({2, 3, 2, 4}, 34)});
}
void gradcheck_concat() {
  expect_ok("concat", [](auto& v) { return concat({v[0], v[1], v[0]}, 1); }, {rnd({2, 3, 2}, 35), rnd({2, 1, 2}, 36)});
}
void gradcheck_slice() { expect_ok("slice", [](auto& v) { return slice(v[0], 1, 1, 3); }, {rnd({2, 4, 3}, 37)}); }
void gradcheck_split() {
  expect_ok("chunk, both pieces", [](auto& v) {
    auto c = chunk(v[0], 2, 1);
    return c[1] * 2.0 + c[0];
  }, {rnd({2, 4, 3}, 38)});
  expect_ok("split, one piece unused", [](auto& v) { return split(v[0], {1, 2, 1}, 1)[1]; }, {rnd({2, 4, 3}, 39)});
}
void gradcheck_flip() {
  expect_ok("flip", [](auto& v) { return flip(v[0], 1) * v[1]; }, {rnd({3, 4}, 40), rnd({3, 4}, 41)});
}
void gradcheck_broadcast_to() {
  expect_ok("broadcast_to", [](auto& v) { return broadcast_to(v[0], {4, 2, 3}); }, {rnd({2, 1}, 39)});
}
void gradcheck_matmul() {
  expect_ok("matmul 2d", [](auto& v) { return matmul(v[0], v[1]); }, {rnd({3, 4}, 40), rnd({4, 2}, 41)});
  expect_ok("matmul transposes", [](auto& v) { return matmul(v[0], v[1], true, true); },
            {rnd({4, 3}, 42), rnd({2, 4}, 43)});
  expect_ok("matmul batched", [](auto& v) { return matmul(v[0], v[1]); }, {rnd({2, 3, 4}, 44), rnd({2, 4, 2}, 45)});
  expect_ok("matmul broadcast", [](auto& v) { return matmul(v[0], v[1], false, true); },
            {rnd({2, 3, 4}, 46), rnd({5, 4}, 47)});
}
void gradcheck_conv2d() {
  auto check = [](const char* what, Shape x, Shape w, ConvOptions o, bool bias) {
    std::vector<Tensor> in{rnd(x, 50), rnd(w, 51)};
    if (bias) in.push_back(rnd({w[0]}, 52));
    expect_ok(what, [o, bias](auto& v) { return conv2d(v[0], v[1], bias ? &v[2] : nullptr, o); }, in);
  };
  ConvOptions pad1;
  pad1.padding = 1;
  ConvOptions down;
  down.stride = 2;
  down.padding = 1;
  ConvOptions grouped;
  grouped.groups = 2;
  grouped.dilation = 2;
  grouped.padding = 2;
  check("conv 3x3 pad 1 + bias", {2, 3, 5, 5}, {4, 3, 3, 3}, pad1, true);
  check("conv 1x1", {2, 4, 3, 3}, {2, 4, 1, 1}, {}, true);
  check("conv 4x4 stride 2 pad 1", {1, 2, 6, 6}, {3, 2, 4, 4}, down, false);
  check("conv groups 2 dilation 2", {1, 4, 5, 5}, {2, 2, 3, 3}, grouped, true);
  ConvOptions relu = pad1;
  relu.relu = true;
  check("conv 3x3 pad 1 + bias, relu fused", {2, 3, 5, 5}, {4, 3, 3, 3}, relu, true);
}
void gradcheck_concat_elu_conv2d() {
  ConvOptions pad1;
  pad1.padding = 1;
  expect_ok("concat_elu -> conv 3x3 pad 1 + bias", [pad1](auto& v) { return concat_elu_conv2d(v[0], v[1], &v[2], pad1); },
            {rnd({2, 3, 4, 4}, 56), rnd({4, 6, 3, 3}, 57), rnd({4}, 58)});
  expect_ok("concat_elu -> conv 1x1", [](auto& v) { return concat_elu_conv2d(v[0], v[1]); },
            {rnd({2, 2, 3, 3}, 59), rnd({3, 4, 1, 1}, 60)});
}
void gradcheck_tap_sum() {
  expect_ok("tap_sum k3", [](auto& v) { return tap_sum(v[0], 3); }, {rnd({2, 18, 4, 5}, 69)});
  expect_ok("tap_sum k5", [](auto& v) { return tap_sum(v[0], 5); }, {rnd({1, 25, 3, 6}, 70)});
  // channel-blocked z: 9*2 = 18 channels padded to 24 in blocks of 8
  expect_ok("tap_sum k3 channel-blocked", [](auto& v) { return tap_sum(v[0], 3, 2); }, {rnd({2, 3, 4, 5, 8}, 71)});
}
void gradcheck_conv_transpose2d() {
  auto check = [](const char* what, Shape x, Shape w, ConvOptions o, bool bias) {
    std::vector<Tensor> in{rnd(x, 53), rnd(w, 54)};
    if (bias) in.push_back(rnd({w[1] * o.groups}, 55));
    expect_ok(what, [o, bias](auto& v) { return conv_transpose2d(v[0], v[1], bias ? &v[2] : nullptr, o); }, in);
  };
  ConvOptions up;
  up.stride = 2;
  up.padding = 1;
  ConvOptions up_op;
  up_op.stride = 2;
  up_op.padding = 1;
  up_op.output_padding = 1;
  ConvOptions pad1;
  pad1.padding = 1;
  check("convT 4x4 stride 2 pad 1 + bias", {2, 3, 3, 3}, {3, 2, 4, 4}, up, true);
  check("convT 3x3 stride 2 output_padding 1", {1, 2, 3, 3}, {2, 3, 3, 3}, up_op, false);
  check("convT 3x3 pad 1", {1, 2, 4, 4}, {2, 2, 3, 3}, pad1, true);
}
void gradcheck_layer_norm() {
  expect_ok("layer_norm channels + affine", [](auto& v) { return layer_norm(v[0], 1, &v[1], &v[2]); },
            {rnd({2, 4, 3, 3}, 56), rnd({4}, 57, 0.5, 1.5), rnd({4}, 58)});
  expect_ok("layer_norm last dim, no affine", [](auto& v) { return layer_norm(v[0], -1, nullptr, nullptr); },
            {rnd({3, 6}, 59)});
  expect_ok("layer_norm channel-blocked [N, C/8, H, W, 8] + affine",
            [](auto& v) { return layer_norm(v[0], 1, &v[1], &v[2], 1e-5, 8); },
            {rnd({2, 2, 2, 3, 8}, 60), rnd({16}, 61, 0.5, 1.5), rnd({16}, 62)});
}
void gradcheck_gated_residual_layer_norm() {
  expect_ok("gated_residual_layer_norm + affine",
            [](auto& v) { return gated_residual_layer_norm(v[0], v[1], &v[2], &v[3]); },
            {rnd({2, 4, 3, 3}, 63), rnd({2, 8, 3, 3}, 64), rnd({4}, 65, 0.5, 1.5), rnd({4}, 66)});
  expect_ok("gated_residual_layer_norm channel-blocked [N, C/8, H, W, 8], no affine",
            [](auto& v) { return gated_residual_layer_norm(v[0], v[1], nullptr, nullptr, 1e-5, 8); },
            {rnd({2, 2, 2, 3, 8}, 67), rnd({2, 4, 2, 3, 8}, 68)});
}
void gradcheck_slogdet() {
  Tensor a = rnd({4, 4}, 60) + from_vector<double>({2, 0, 0, 0, 0, 2, 0, 0, 0, 0, -2, 0, 0, 0, 0, 2}, {4, 4});
  expect_ok("slogdet", [](auto& v) { return slogdet(v[0]); }, {a});
}
void gradcheck_inverse() {
  Tensor a = rnd({3, 3}, 61) + from_vector<double>({2, 0, 0, 0, 2, 0, 0, 0, 2}, {3, 3});
  expect_ok("inverse", [](auto& v) { return inverse(v[0]); }, {a});
}

#define FG_DIFF_OP(name) \
  TEST_CASE("gradcheck " #name) { gradcheck_##name(); }
#include "flowgrad/detail/ops.def"
#undef FG_DIFF_OP

TEST_CASE("gradcheck catches a wrong gradient") {
  // d/dx of x*x computed through a broken op must fail: here, detach one factor.
  auto broken = [](const std::vector<Var>& v) { return v[0] * v[0].detach(); };
  GradcheckResult r = gradcheck(broken, {rnd({4}, 70)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("analytic") != std::string::npos);
}

TEST_CASE("gradcheck: a small composite (coupling-like) function") {
  expect_ok("composite", [](auto& v) {
    Var s = tanh(v[1] * v[0]);
    return sum((v[0] + v[2]) * exp(s), {1});
  }, {rnd({3, 4}, 80), rnd({4}, 81), rnd({3, 1}, 82)});
}
