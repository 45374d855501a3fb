// f64 central-difference gradient checks, one per differentiable op in autograd/ops.def.
// Each gradcheck_<op> below is declared from that list and called by the test case at the end,
// so adding an op to the list without a check here fails to link.
#include <doctest/doctest.h>

#include "autograd/functional.h"
#include "autograd/gradcheck.h"

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
#include "autograd/ops.def"
#undef FG_DIFF_OP

void gradcheck_add() {
  expect_ok("add same shape", [](auto& v) { return add(v[0], v[1]); }, {rnd({3, 4}, 1), rnd({3, 4}, 2)});
  expect_ok("add broadcast", [](auto& v) { return add(v[0], v[1]); }, {rnd({2, 3, 4}, 1), rnd({3, 1}, 2)});
}
void gradcheck_sub() {
  expect_ok("sub broadcast", [](auto& v) { return sub(v[0], v[1]); }, {rnd({4}, 3), rnd({2, 3, 4}, 4)});
}
void gradcheck_mul() {
  expect_ok("mul broadcast", [](auto& v) { return mul(v[0], v[1]); }, {rnd({2, 1, 4}, 5), rnd({3, 1}, 6)});
  expect_ok("mul scalar tensor", [](auto& v) { return mul(v[0], v[1]); }, {rnd({2, 3}, 5), rnd({}, 6)});
}
void gradcheck_div() {
  expect_ok("div broadcast", [](auto& v) { return div(v[0], v[1]); }, {rnd({2, 3}, 7), rnd({3}, 8, 0.5, 2.0)});
}
void gradcheck_neg() { expect_ok("neg", [](auto& v) { return neg(v[0]); }, {rnd({5}, 9)}); }
void gradcheck_affine() { expect_ok("affine", [](auto& v) { return 3.0 - v[0] * 2.5; }, {rnd({5}, 10)}); }
void gradcheck_exp() { expect_ok("exp", [](auto& v) { return exp(v[0]); }, {rnd({2, 3}, 11)}); }
void gradcheck_log() { expect_ok("log", [](auto& v) { return log(v[0]); }, {rnd({2, 3}, 12, 0.2, 3.0)}); }
void gradcheck_sqrt() { expect_ok("sqrt", [](auto& v) { return sqrt(v[0]); }, {rnd({2, 3}, 13, 0.2, 3.0)}); }
void gradcheck_pow() { expect_ok("pow", [](auto& v) { return pow(v[0], 2.5); }, {rnd({2, 3}, 14, 0.2, 3.0)}); }
void gradcheck_square() { expect_ok("square", [](auto& v) { return square(v[0]); }, {rnd({2, 3}, 15)}); }
void gradcheck_abs() { expect_ok("abs", [](auto& v) { return abs(v[0]); }, {away_from_zero({2, 3}, 16)}); }
void gradcheck_tanh() { expect_ok("tanh", [](auto& v) { return tanh(v[0]); }, {rnd({2, 3}, 17, -2, 2)}); }
void gradcheck_sigmoid() { expect_ok("sigmoid", [](auto& v) { return sigmoid(v[0]); }, {rnd({2, 3}, 18, -4, 4)}); }
void gradcheck_softplus() {
  expect_ok("softplus", [](auto& v) { return softplus(v[0]); }, {rnd({2, 3}, 19, -4, 4)});
}
void gradcheck_relu() { expect_ok("relu", [](auto& v) { return relu(v[0]); }, {away_from_zero({3, 4}, 20)}); }
void gradcheck_elu() { expect_ok("elu", [](auto& v) { return elu(v[0], 0.7); }, {away_from_zero({3, 4}, 21)}); }
void gradcheck_clamp() {
  // keep samples away from the bounds +-0.5
  Tensor x = from_vector<double>({-0.9, -0.3, 0.1, 0.45, 0.7, -0.6}, {2, 3});
  expect_ok("clamp", [](auto& v) { return clamp(v[0], -0.5, 0.5); }, {x});
}
void gradcheck_where() {
  Tensor cond = gt(rnd({2, 3}, 22), scalar(0.0, DType::F64));
  expect_ok("where broadcast", [cond](auto& v) { return where(cond, v[0], v[1]); }, {rnd({2, 3}, 23), rnd({3}, 24)});
}
void gradcheck_concat_elu() {
  expect_ok("concat_elu 4d", [](auto& v) { return concat_elu(v[0]); }, {away_from_zero({2, 3, 2, 2}, 90)});
  expect_ok("concat_elu 2d", [](auto& v) { return concat_elu(v[0]); }, {away_from_zero({3, 4}, 91)});
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
void gradcheck_permute() {
  expect_ok("permute", [](auto& v) { return permute(v[0], {0, 2, 3, 1}); }, {rnd({2, 3, 2, 4}, 34)});
}
void gradcheck_concat() {
  expect_ok("concat", [](auto& v) { return concat({v[0], v[1], v[0]}, 1); }, {rnd({2, 3, 2}, 35), rnd({2, 1, 2}, 36)});
}
void gradcheck_slice() {
  expect_ok("slice", [](auto& v) { return slice(v[0], 1, 1, 3); }, {rnd({2, 4, 3}, 37)});
  expect_ok("chunk", [](auto& v) { return chunk(v[0], 2, 1)[1] * 2.0 + chunk(v[0], 2, 1)[0]; },
            {rnd({2, 4, 3}, 38)});
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
#include "autograd/ops.def"
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
