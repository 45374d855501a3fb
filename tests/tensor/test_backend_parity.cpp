// The backend parity harness: every kernel of tensor/backend.def, driven through Backend& on a
// candidate backend and on the CPU reference (CpuBackend with oneDNN off), with the same inputs,
// compared element by element. Candidates: the CPU backend with oneDNN on here; built into the GPU
// test program (tests/cuda, FG_PARITY_GPU), every CUDA device present instead (none on CI: that
// program then reports its cases as skipped). One parity_<name>() per entry of backend.def, so a
// new kernel without a check does not link: the elementwise, reduction, random and optimizer
// kernels here, the dense ones in test_backend_parity_dense.cpp, the harness in parity_harness.h.
//
// Inputs are built on the CPU from fixed seeds and moved to the candidate's device; strided views
// (permuted, sliced, broadcast, negative strides) are taken after the move, so device kernels see
// the same odd strides. Shapes include the tutorial's (GatedConvNet convs and layer norms at batch
// 64 and 128).
//
// Tolerances, err = max|got - ref| / max(1, max|ref|):
// - elementwise, where, cast, copy, fill, random uniform, scale_all: f32 2e-6, f64 1e-13. The
//   same formula in the same precision; other backends' math libraries (exp, log, tanh on a GPU)
//   differ by a few ulp (f32 ulp ~6e-8, 1e-6 is ~16 ulp).
// - random normal: f32 2e-6, f64 1e-12 (Box-Muller's log/sqrt/cos in double, then rounded).
// - reductions, sum_of_squares: f32 1e-5 (other summation orders: ~sqrt(n) ulp of the sum of |x|,
//   n <= 1e5 here), f64 1e-12.
// - conv, matmul, layer norm: f32 1e-4 (oneDNN and cuDNN accumulate in f32 in their own order
//   over up to ~1e5 terms at batch 128: ~1e-5 of the result's scale; a wrong tap or stride gives
//   errors of order 1), f64 1e-11.
// - slogdet, inverse: f32 1e-5, f64 1e-12 (LU in double on the CPU; n <= 48).
// - adam_step: f32 2e-6, f64 1e-13 (one update of sqrt, division and fused multiply-adds).
#include "parity_harness.h"

using namespace fg;
using namespace fg::parity;

void parity_fill() {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::U8})
    check(std::string("fill ") + dtype_name(t), kElementwise, [t](Backend& b, Device d) {
      Tensor o = out({3, 1000}, t, d);
      b.fill(o, 7.0);
      return std::vector<Tensor>{o};
    });
}

void parity_copy() {
  for (DType t : kTypes)
    for (const View& v : views())
      check(std::string("copy of ") + v.name, kElementwise, [t, &v](Backend& b, Device d) {
        Tensor x = v.make(input(v.base, t, 1, d));
        Tensor o = out(x.shape(), t, d);
        b.copy(elementwise_params("copy", o, {&x}), x, o);
        return std::vector<Tensor>{o};
      });
}

void parity_cast() {
  const std::pair<DType, DType> pairs[] = {{DType::F32, DType::F64}, {DType::F64, DType::F32},
                                           {DType::F32, DType::I32}, {DType::F64, DType::U8}};
  for (auto [from, to] : pairs)
    check(std::string("cast ") + dtype_name(from) + "->" + dtype_name(to), kElementwise, [=](Backend& b, Device d) {
      Tensor x = permute(input({6, 40}, from, 2, d, 0, 200), {1, 0});
      Tensor o = out(x.shape(), to, d);
      b.cast(elementwise_params("cast", o, {&x}), x, o);
      return std::vector<Tensor>{o.to(DType::F64)};
    });
}

namespace {
// (lo, hi) inside each unary op's domain, and its params, from the table's gradcheck columns
struct UnaryCase {
  UnaryOp op;
  double lo, hi, a, b;
};
const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> c = {
#define FG_UNARY(Name, fn, np, saves, fwd, bwd, lo, hi, a, b) {UnaryOp::Name, lo, hi, a, b},
#include "flowgrad/detail/elementwise.def"
#undef FG_UNARY
  };
  return c;
}
}  // namespace

void parity_unary() {
  for (const UnaryCase& u : unary_cases())
    for (const View& v : views())
      check_typed(std::string(unary_name(u.op)) + " of " + v.name, kElementwise, [=, &v](Backend& b, Device d, DType t) {
          Tensor x = v.make(input(v.base, t, 3, d, 3 * u.lo, 3 * u.hi));  // also outside the check range
          if (u.op == UnaryOp::Log || u.op == UnaryOp::Sqrt || u.op == UnaryOp::Pow)
            x = v.make(input(v.base, t, 3, d, u.lo, 3 * u.hi));
          Tensor o = out(x.shape(), t, d);
          UnaryParams p{u.a, u.b};
          b.unary(u.op, p, elementwise_params("unary", o, {&x}), x, o);
          return std::vector<Tensor>{o};
        });
}

void parity_unary_backward() {
  for (const UnaryCase& u : unary_cases())
    check_typed(std::string(unary_name(u.op)) + " backward", kElementwise, [=](Backend& b, Device d, DType t) {
        const View& v = views()[1];
        Tensor x = v.make(input(v.base, t, 4, d, u.lo, u.hi));
        Tensor g = v.make(input(v.base, t, 5, d));
        Tensor y = unary(u.op, x, {u.a, u.b});
        Tensor o = out(x.shape(), t, d);
        b.unary_backward(u.op, {u.a, u.b}, elementwise_params("unary_backward", o, {&g, &x, &y}), x, y, g, o);
        return std::vector<Tensor>{o};
      });
}

namespace {
struct BinaryCase {
  const char* name;
  Shape a, b;  // broadcast together
};
const std::vector<BinaryCase>& binary_shapes() {
  static const std::vector<BinaryCase> c = {
      {"same [128,32,28,28]", {128, 32, 28, 28}, {128, 32, 28, 28}},
      {"channel bias [64,32,28,28]x[1,32,1,1]", {64, 32, 28, 28}, {1, 32, 1, 1}},
      {"scalar", {7, 9}, {}},
      {"outer [5,1]x[1,6]", {5, 1}, {1, 6}},
      {"rank 3 vs 1", {4, 3, 8}, {8}},
  };
  return c;
}
std::vector<BinaryOp> all_binary() {
  return {
#define FG_BINARY(Name, ...) BinaryOp::Name,
#define FG_COMPARE(Name, ...) BinaryOp::Name,
#include "flowgrad/detail/elementwise.def"
#undef FG_BINARY
#undef FG_COMPARE
  };
}
}  // namespace

void parity_binary() {
  for (BinaryOp op : all_binary())
    for (const BinaryCase& c : binary_shapes())
      check_typed(std::string(binary_name(op)) + " " + c.name, kElementwise, [=](Backend& b, Device d, DType t) {
          Tensor x = input(c.a, t, 6, d), y = input(c.b, t, 7, d, 0.5, 2);
          if (op >= BinaryOp::Eq) y = input(c.b, t, 6, d);  // comparisons see equal values too
          Tensor o = out(broadcast_shapes(c.a, c.b, "binary"), t, d);
          b.binary(op, elementwise_params("binary", o, {&x, &y}), x, y, o);
          return std::vector<Tensor>{o};
        });
  // strided operands
  check("mul of a permuted and a sliced view", kElementwise, [](Backend& b, Device d) {
    Tensor x = permute(input({8, 5, 6}, DType::F32, 8, d), {2, 0, 1});
    Tensor y = slice(input({6, 8, 9}, DType::F32, 9, d), 2, 2, 7);
    Tensor o = out({6, 8, 5}, DType::F32, d);
    b.binary(BinaryOp::Mul, elementwise_params("mul", o, {&x, &y}), x, y, o);
    return std::vector<Tensor>{o};
  });
}

void parity_binary_backward() {
  for (int k = 0; k < kNumDiffBinaryOps; ++k) {
    BinaryOp op = static_cast<BinaryOp>(k);
    for (const BinaryCase& c : binary_shapes())
      check_typed(std::string(binary_name(op)) + " backward " + c.name, kElementwise, [=](Backend& b, Device d, DType t) {
          Tensor x = input(c.a, t, 10, d), y = input(c.b, t, 11, d, 0.5, 2);
          Shape s = broadcast_shapes(c.a, c.b, "binary");
          Tensor g = input(s, t, 12, d);
          Tensor da = out(s, t, d), db = out(s, t, d);
          b.binary_backward(op, elementwise_params("binary_backward", da, {&db, &g, &x, &y}), x, y, g, &da, &db);
          return std::vector<Tensor>{da, db};
        });
    }
}

void parity_gather_rows() {
  for (DType t : kTypes)
    check(std::string("gather_rows ") + dtype_name(t), kElementwise, [t](Backend& b, Device d) {
      Tensor x = input({64, 3, 5, 5}, t, 37, d);
      std::vector<int32_t> idx;
      for (int i = 0; i < 100; ++i) idx.push_back((i * 37 + 11) % 64);
      Tensor index = from_vector(idx, {100}).to(d);
      Tensor o = out({100, 3, 5, 5}, t, d);
      b.gather_rows(x, index, o);
      return std::vector<Tensor>{o};
    });
}

void parity_where() {
  check_typed("where", kElementwise, [](Backend& b, Device d, DType t) {
      Tensor c = gt(input({64, 1, 28, 28}, DType::F32, 13, d), scalar(0.0, DType::F32, d)).to(DType::U8);
      Tensor x = input({64, 32, 28, 28}, t, 14, d), y = input({32, 1, 1}, t, 15, d);
      Tensor o = out({64, 32, 28, 28}, t, d);
      b.where(elementwise_params("where", o, {&c, &x, &y}), c, x, y, o);
      return std::vector<Tensor>{o};
    });
}

void parity_concat_elu() {
  for (int64_t n : {64, 128})
    check_typed("concat_elu batch " + std::to_string(n), kElementwise, [=](Backend& b, Device d, DType t) {
        Tensor x = input({n, 32, 28, 28}, t, 16, d, -3, 3);
        Tensor y = out({n, 64, 28, 28}, t, d);
        b.concat_elu({n, 32, 28 * 28}, x, y);
        return std::vector<Tensor>{y};
      });
}

void parity_concat_elu_backward() {
  check_typed("concat_elu backward", kElementwise, [](Backend& b, Device d, DType t) {
      Tensor x = input({64, 48, 14, 14}, t, 17, d, -3, 3);
      Tensor y = concat_elu(x), g = input({64, 96, 14, 14}, t, 18, d);
      Tensor dx = out(x.shape(), t, d);
      b.concat_elu_backward({64, 48, 14 * 14}, y, g, dx);
      return std::vector<Tensor>{dx};
    });
}

void parity_gated_residual() {
  for (int64_t n : {64, 128})
    check_typed("gated_residual batch " + std::to_string(n), kElementwise, [=](Backend& b, Device d, DType t) {
        Tensor x = input({n, 32, 28, 28}, t, 19, d), h = input({n, 64, 28, 28}, t, 20, d, -4, 4);
        Tensor y = out(x.shape(), t, d);
        b.gated_residual({n, 32, 28 * 28}, x, h, y);
        return std::vector<Tensor>{y};
      });
}

void parity_gated_residual_backward() {
  check_typed("gated_residual backward", kElementwise, [](Backend& b, Device d, DType t) {
      Tensor h = input({64, 96, 14, 14}, t, 21, d, -4, 4), g = input({64, 48, 14, 14}, t, 22, d);
      Tensor dh = out(h.shape(), t, d);
      b.gated_residual_backward({64, 48, 14 * 14}, h, g, dh);
      return std::vector<Tensor>{dh};
    });
}

// residual flows' hidden activations (batch 64, 64 channels at 14x14), with and without a tangent;
// x spans [-12, 12] so both tails of the sigmoid are read
void parity_lipswish() {
  for (bool tangent : {false, true})
    check_typed(std::string("lipswish") + (tangent ? " with its tangent" : ""), kElementwise,
                [=](Backend& b, Device d, DType t) {
                  Tensor x = input({64, 64, 14, 14}, t, 29, d, -12, 12), dx = input(x.shape(), t, 30, d);
                  Tensor beta = full({1}, 0.97, t, d), y = out(x.shape(), t, d), dy = out(x.shape(), t, d);
                  b.lipswish(x, tangent ? &dx : nullptr, beta, y, tangent ? &dy : nullptr);
                  return tangent ? std::vector<Tensor>{y, dy} : std::vector<Tensor>{y};
                });
}

// gbeta sums 100K products, compared as a reduction on x in [0.1, 2] with positive gradients, where
// every product is positive: each product's f32 rounding (~3e-7) adds up over 100K terms, so terms
// of mixed sign cancelling to a small sum fail the reduction tolerance on rounding alone. gx and
// gdx are also compared over x in [-12, 12].
void parity_lipswish_backward() {
  for (int which : {0, 1, 2, 3})  // gy only (no tangent); gy and gdy; gdy only; gy and gdy on both tails
    check_typed(fmt::format("lipswish backward ({})", which == 0   ? "gy"
                                                      : which == 1 ? "gy, gdy"
                                                      : which == 2 ? "gdy"
                                                                   : "gy, gdy, x in [-12, 12]"),
                kReduce, [=](Backend& b, Device d, DType t) {
                  const bool tangent = which > 0, tails = which == 3;
                  Tensor x = input({8, 64, 14, 14}, t, 31, d, tails ? -12 : 0.1, tails ? 12 : 2);
                  Tensor dx = input(x.shape(), t, 32, d, 0.5, 1), gy = input(x.shape(), t, 33, d, 0.5, 1);
                  Tensor gdy = input(x.shape(), t, 34, d, 0.5, 1);
                  Tensor beta = full({1}, 0.97, t, d), gx = out(x.shape(), t, d), gdx = out(x.shape(), t, d);
                  Tensor gb = out({1}, t, d);
                  b.lipswish_backward(x, tangent ? &dx : nullptr, beta, which != 2 ? &gy : nullptr,
                                      tangent ? &gdy : nullptr, gx, tangent ? &gdx : nullptr, gb);
                  if (tails) return std::vector<Tensor>{gx, gdx};
                  return tangent ? std::vector<Tensor>{gx, gdx, gb} : std::vector<Tensor>{gx, gb};
                });
}

// glow's shapes: C 4 at 14x14 and C 8 at 7x7 (ca = C/2), both directions
void parity_sigmoid_coupling() {
  for (bool rev : {false, true})
    for (auto [c, hw] : {std::pair<int64_t, int64_t>{4, 14}, {8, 7}})
      check_typed(fmt::format("sigmoid_coupling C {} at {}x{}{}", c, hw, hw, rev ? " reverse" : ""), kReduce,
              [=](Backend& b, Device d, DType t) {
                Tensor z = input({64, c, hw, hw}, t, 23, d), h = input({64, c, hw, hw}, t, 24, d, -4, 4);
                Tensor y = out(z.shape(), t, d), ld = out({64}, t, d);
                b.sigmoid_coupling({64, c, c / 2, hw * hw, 2.0, rev}, z, h, y, ld);
                return std::vector<Tensor>{y, ld};
              });
}

void parity_sigmoid_coupling_backward() {
  for (bool rev : {false, true})
    check_typed(std::string("sigmoid_coupling backward") + (rev ? " reverse" : ""), kElementwise,
                [=](Backend& b, Device d, DType t) {
        Tensor z = input({64, 4, 14, 14}, t, 25, d), h = input({64, 4, 14, 14}, t, 26, d, -4, 4);
        Tensor gy = input({64, 4, 14, 14}, t, 27, d), gl = input({64}, t, 28, d);
        Tensor dz = out(z.shape(), t, d), dh = out(h.shape(), t, d);
        b.sigmoid_coupling_backward({64, 4, 2, 14 * 14, 2.0, rev}, z, h, gy, gl, dz, dh);
        return std::vector<Tensor>{dz, dh};
      });
}

void parity_reduce() {
  const std::pair<const char*, std::vector<bool>> dims[] = {
      {"all", {true, true, true, true}},
      {"batch+spatial (bias grads)", {true, false, true, true}},
      {"except batch", {false, true, true, true}},
      {"channels", {false, true, false, false}},
  };
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::LogSumExp})
    for (auto& [dname, red] : dims)
      for (bool permuted : {false, true})
        check_typed(std::string("reduce ") + dname + (permuted ? " of a permuted view" : ""), kReduce,
                    [=, red = red](Backend& b, Device d, DType t) {
                  Tensor x = input({16, 12, 14, 14}, t, 19, d, -2, 2);
                  if (permuted) x = permute(input({16, 14, 14, 12}, t, 19, d, -2, 2), {0, 3, 1, 2});
                  Shape os;
                  for (int i = 0; i < 4; ++i)
                    if (!red[i]) os.push_back(x.shape()[i]);
                  Tensor o = out(os, t, d);
                  b.reduce(op, reduce_params("reduce", x, red), x, o);
                  return std::vector<Tensor>{o};
                });
}

void parity_random_uniform() {
  for (DType t : kTypes)
    check("random uniform", kElementwise, [t](Backend& b, Device d) {
      Tensor o = out({3, 1001}, t, d);
      b.random_uniform(o, -2, 3, 1234, 77);
      return std::vector<Tensor>{o};
    });
}

void parity_random_normal() {
  for (DType t : kTypes)
    check("random normal", kNormal, [t](Backend& b, Device d) {
      Tensor o = out({3, 1001}, t, d);
      b.random_normal(o, 0.5, 2, 1234, 77);
      return std::vector<Tensor>{o};
    });
}

void parity_sum_of_squares() {
  check("sum_of_squares", kReduce, [](Backend& b, Device d) {
    std::vector<Tensor> xs;
    for (int i = 0; i < 40; ++i) xs.push_back(input({1 + 37 * i}, i % 3 ? DType::F32 : DType::F64, 40 + i, d));
    xs.push_back(input({64, 32, 3, 3}, DType::F32, 90, d));
    std::vector<const Tensor*> ptrs;
    for (auto& x : xs) ptrs.push_back(&x);
    Tensor o = out({}, DType::F64, d);
    b.sum_of_squares(ptrs, o);
    return std::vector<Tensor>{o};
  });
}

void parity_scale_all() {
  check("scale_all", kElementwise, [](Backend& b, Device d) {
    std::vector<Tensor> xs, outs;
    for (int i = 0; i < 30; ++i) xs.push_back(input({1 + 53 * i}, i % 2 ? DType::F32 : DType::F64, 100 + i, d));
    std::vector<const Tensor*> ptrs;
    std::vector<Tensor*> optrs;
    for (auto& x : xs) {
      ptrs.push_back(&x);
      outs.push_back(out(x.shape(), x.dtype(), d));
    }
    for (auto& o : outs) optrs.push_back(&o);
    b.scale_all(ptrs, scalar(0.37, DType::F64, d), optrs);
    return outs;
  });
}

void parity_adam_step() {
  for (bool skip : {false, true})
    check_typed(std::string("adam step") + (skip ? " (skipped)" : ""), kElementwise, [=](Backend& b, Device d, DType t) {
        std::vector<Tensor> w, g, m, v;
        for (int i = 0; i < 12; ++i) {
          Shape s{1 + 211 * i};
          w.push_back(input(s, t, 200 + i, d));
          g.push_back(input(s, t, 300 + i, d));
          m.push_back(input(s, t, 400 + i, d, -0.1, 0.1));
          v.push_back(input(s, t, 500 + i, d, 0, 0.01));
        }
        AdamTensors at;
        for (int i = 0; i < 12; ++i) {
          at.params.push_back(&w[i]);
          at.grads.push_back(&g[i]);
          at.exp_avg.push_back(&m[i]);
          at.exp_avg_sq.push_back(&v[i]);
        }
        Tensor step = full({1}, 4.0, DType::F64, d), flag = scalar(skip ? 1.0 : 0.0, t, d);
        b.adam_step({1e-3, 0.9, 0.999, 1e-8, 0.01}, at, step, &flag);
        std::vector<Tensor> all{step};
        for (int i = 0; i < 12; ++i) all.insert(all.end(), {w[i], m[i], v[i]});
        return all;
      });
}

#define FG_BACKEND_OP(name, params) \
  TEST_CASE("backend parity: " #name) { parity_##name(); }
#include "tensor/backend.def"
#undef FG_BACKEND_OP

TEST_CASE("backend parity: the harness catches a wrong kernel") {
  // a candidate whose unary kernel computes something else must fail the comparison
  cpu::CpuBackend ref(0);
  Tensor x = input({100}, DType::F32, 1, Device::cpu());
  Tensor a = out({100}, DType::F32, Device::cpu()), b = out({100}, DType::F32, Device::cpu());
  ref.unary(UnaryOp::Tanh, {}, elementwise_params("t", a, {&x}), x, a);
  ref.unary(UnaryOp::Sigmoid, {}, elementwise_params("t", b, {&x}), x, b);
  CHECK(rel_err(a, b) > kElementwise.f32);
}
