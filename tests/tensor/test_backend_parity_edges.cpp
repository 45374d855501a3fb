// Backend parity at the edges the main parity files do not reach (GPU test program only; here it
// runs on the emulated device): every kernel family on zero-size tensors; convolutions with TF32
// allowed, at a looser, stated tolerance; convolutions on views whose first element is off a
// 16-byte boundary (cuDNN wants aligned pointers); and a singular inverse, which must throw as on
// the CPU. Failure messages of conv cases name the cuDNN algorithm each direction chose.
#include "parity_harness.h"
#include "tensor/aligned.h"
#include "tensor/ops_internal.h"

using namespace fg;
using namespace fg::parity;

namespace {

// TF32 keeps 10 of f32's 23 mantissa bits: each operand is off by up to 2^-11 (4.9e-4) relative,
// a product by about 1e-3, and a sum of K such products with random signs by about 1e-3 of the
// sum's scale. 5e-3 leaves five times that; a wrong tap or stride is off by order 1.
constexpr Tol kTf32{5e-3, 1e-11};

struct Tf32On {
  bool was = allow_tf32();
  Tf32On() { set_allow_tf32(true); }
  ~Tf32On() { set_allow_tf32(was); }
};

// the cuDNN algorithms the candidates chose for p, for a failure message
std::string algos(const Conv2dParams& p, DType t) {
  std::string s;
  for (const Candidate& c : candidates())
    s += fmt::format(" [{}: forward {}, data {}, filter {}]", c.name, c.backend->conv_choice(p, t, ConvDir::Forward).kernel,
                     c.backend->conv_choice(p, t, ConvDir::BackwardData).kernel,
                     c.backend->conv_choice(p, t, ConvDir::BackwardWeights).kernel);
  return s;
}

Conv2dParams conv(int64_t n, int64_t c, int64_t hw, int64_t o, int64_t k) {
  ConvOptions opt;
  opt.padding = k / 2;
  return conv2d_params({n, c, hw, hw}, {o, c, k, k}, opt, "parity");
}

// a contiguous view of shape s starting `skip` elements into a fresh buffer: off a 16-byte boundary
Tensor offset_input(const Shape& s, DType t, uint64_t seed, Device d, int64_t skip = 1) {
  Tensor base = input({numel(s) + skip}, t, seed, d);
  Tensor v = slice(base, 0, skip, numel(s) + skip).reshape(s);
  REQUIRE(v.is_contiguous());
  REQUIRE(!is_aligned(v, 16));
  return v;
}
Tensor offset_output(const Shape& s, DType t, Device d) {
  Tensor v = slice(zeros({numel(s) + 1}, t, d), 0, 1, numel(s) + 1).reshape(s);
  REQUIRE(!is_aligned(v, 16));
  return v;
}

}  // namespace

TEST_CASE("backend parity: convolutions and matmul with TF32 allowed, within 5e-3") {
  Tf32On tf32;
  for (const Conv2dParams& p : {conv(64, 32, 28, 32, 3), conv(64, 96, 14, 48, 3), conv(64, 128, 7, 128, 1)}) {
    const std::string name = fmt::format("TF32 conv {}->{} {}x{} k{}{}", p.C, p.O, p.H, p.W, p.KH, algos(p, DType::F32));
    check(name + " forward", kTf32, [=](Backend& b, Device d) {
      Tensor x = input({p.N, p.C, p.H, p.W}, DType::F32, 1, d), w = input({p.O, p.C, p.KH, p.KW}, DType::F32, 2, d);
      Tensor bias = input({p.O}, DType::F32, 3, d), y = out({p.N, p.O, p.OH, p.OW}, DType::F32, d);
      b.conv2d_forward(p, x, w, &bias, y);
      return std::vector<Tensor>{y};
    });
    check(name + " backward data", kTf32, [=](Backend& b, Device d) {
      Tensor dy = input({p.N, p.O, p.OH, p.OW}, DType::F32, 4, d), w = input({p.O, p.C, p.KH, p.KW}, DType::F32, 5, d);
      Tensor dx = out({p.N, p.C, p.H, p.W}, DType::F32, d);
      b.conv2d_backward_data(p, dy, w, dx);
      return std::vector<Tensor>{dx};
    });
    check(name + " backward weights", kTf32, [=](Backend& b, Device d) {
      Tensor x = input({p.N, p.C, p.H, p.W}, DType::F32, 6, d), dy = input({p.N, p.O, p.OH, p.OW}, DType::F32, 7, d);
      Tensor dw = out({p.O, p.C, p.KH, p.KW}, DType::F32, d), db = out({p.O}, DType::F32, d);
      b.conv2d_backward_weights(p, x, dy, dw, &db);
      return std::vector<Tensor>{dw, db};
    });
  }
  check("TF32 matmul 3x(300x576)x(576x200)", kTf32, [](Backend& b, Device d) {
    Tensor x = input({3, 300, 576}, DType::F32, 8, d), y = input({3, 576, 200}, DType::F32, 9, d);
    Tensor o = out({3, 300, 200}, DType::F32, d);
    b.matmul({3, 300, 200, 576, 0, 0, 300 * 576, 576 * 200}, x, y, o);
    return std::vector<Tensor>{o};
  });
}

TEST_CASE("backend parity: convolutions of views that start off a 16-byte boundary") {
  for (DType t : kTypes)
    for (const Conv2dParams& p : {conv(8, 16, 14, 32, 3), conv(4, 12, 7, 8, 1)}) {
      const std::string name = fmt::format("misaligned conv {}->{} {}x{} k{} {}{}", p.C, p.O, p.H, p.W, p.KH,
                                           dtype_name(t), algos(p, t));
      check(name + " forward", kDense, [=](Backend& b, Device d) {
        Tensor x = offset_input({p.N, p.C, p.H, p.W}, t, 11, d), w = offset_input({p.O, p.C, p.KH, p.KW}, t, 12, d, 3);
        Tensor bias = offset_input({p.O}, t, 13, d), y = offset_output({p.N, p.O, p.OH, p.OW}, t, d);
        b.conv2d_forward(p, x, w, &bias, y);
        return std::vector<Tensor>{y};
      });
      check(name + " backward data", kDense, [=](Backend& b, Device d) {
        Tensor dy = offset_input({p.N, p.O, p.OH, p.OW}, t, 14, d), w = offset_input({p.O, p.C, p.KH, p.KW}, t, 15, d);
        Tensor dx = offset_output({p.N, p.C, p.H, p.W}, t, d);
        b.conv2d_backward_data(p, dy, w, dx);
        return std::vector<Tensor>{dx};
      });
      check(name + " backward weights", kDense, [=](Backend& b, Device d) {
        Tensor x = offset_input({p.N, p.C, p.H, p.W}, t, 16, d), dy = offset_input({p.N, p.O, p.OH, p.OW}, t, 17, d);
        Tensor dw = offset_output({p.O, p.C, p.KH, p.KW}, t, d), db = offset_output({p.O}, t, d);
        b.conv2d_backward_weights(p, x, dy, dw, &db);
        return std::vector<Tensor>{dw, db};
      });
    }
}

TEST_CASE("an inverse of a singular matrix throws on every device, as on the cpu") {
  for (const Candidate& c : candidates()) {
    INFO(c.name);
    Tensor a = from_vector<double>({1, 2, 2, 4}, {2, 2}).to(DType::F32).to(c.device);
    CHECK_THROWS_WITH_AS(inverse(a).to(Device::cpu()), doctest::Contains("singular"), Error);
    // the error is reported once; the device works on
    CHECK(inverse(eye(2, DType::F32, c.device) * 2.0).to(Device::cpu()).to_vector<float>() ==
          std::vector<float>{0.5f, 0, 0, 0.5f});
  }
}

// One zero-size case per kernel family: nothing may be read or written out of bounds, and the
// outputs that do have elements (a K = 0 matmul, the statistics of a layer norm over no channels,
// the bias of a conv over no input channels, sums over nothing) must match the CPU's.
TEST_CASE("backend parity: every kernel family on zero-size tensors") {
  for (DType t : kTypes) {
    const std::string ty = dtype_name(t);
    check("zero-size elementwise " + ty, kElementwise, [t](Backend& b, Device d) {
      Tensor x = input({0, 5}, t, 1, d), y = input({1, 5}, t, 2, d), o = out({0, 5}, t, d), f = out({0}, t, d);
      b.fill(f, 3.0);
      Tensor xt = transpose(x, 0, 1), c = out({5, 0}, t, d);
      b.copy(elementwise_params("copy", c, {&xt}), xt, c);
      Tensor i = out({0, 5}, DType::I32, d);
      b.cast(elementwise_params("cast", i, {&x}), x, i);
      b.unary(UnaryOp::Exp, {}, elementwise_params("exp", o, {&x}), x, o);
      b.unary_backward(UnaryOp::Tanh, {}, elementwise_params("tanh", o, {&x, &x, &x}), x, x, x, o);
      b.binary(BinaryOp::Add, elementwise_params("add", o, {&x, &y}), x, y, o);
      Tensor da = out({0, 5}, t, d), db = out({0, 5}, t, d);
      b.binary_backward(BinaryOp::Mul, elementwise_params("mul", da, {&db, &x, &x, &x}), x, x, x, &da, &db);
      Tensor cond = out({0, 5}, DType::U8, d);
      b.where(elementwise_params("where", o, {&cond, &x, &y}), cond, x, y, o);
      Tensor rows = input({0, 3}, t, 3, d), g = out({0, 3}, t, d);
      b.gather_rows(rows, from_vector(std::vector<int32_t>{}, {0}).to(d), g);
      return std::vector<Tensor>{f, c, i, o, da, db, g};
    });
    check("zero-size activations and coupling " + ty, kElementwise, [t](Backend& b, Device d) {
      Tensor x = input({0, 4, 9}, t, 4, d), h = input({0, 8, 9}, t, 5, d), y = out({0, 8, 9}, t, d);
      Tensor r = out({0, 4, 9}, t, d), dh = out({0, 8, 9}, t, d);
      b.concat_elu({0, 4, 9}, x, y);
      b.concat_elu_backward({0, 4, 9}, y, y, r);
      b.gated_residual({0, 4, 9}, x, h, r);
      b.gated_residual_backward({0, 4, 9}, h, x, dh);
      Tensor z = input({0, 4, 9}, t, 6, d), hz = input({0, 4, 9}, t, 7, d), ld = out({0}, t, d);
      Tensor dz = out({0, 4, 9}, t, d), dhz = out({0, 4, 9}, t, d);
      b.sigmoid_coupling({0, 4, 2, 9, 2.0, 0}, z, hz, r, ld);
      b.sigmoid_coupling_backward({0, 4, 2, 9, 2.0, 0}, z, hz, z, ld, dz, dhz);
      Tensor tz = input({0, 18, 4, 5}, t, 8, d), ty_ = out({0, 2, 4, 5}, t, d);
      b.tap_sum({0, 2, 4, 5, 3, 1}, tz, ty_);
      b.tap_sum_backward({0, 2, 4, 5, 3, 1}, ty_, tz);
      return std::vector<Tensor>{y, r, dh, ld, dz, ty_};
    });
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::LogSumExp})
      check("zero-size reduce " + ty, kReduce, [t, op](Backend& b, Device d) {
        Tensor none = input({0, 5}, t, 9, d), o0 = out({0}, t, d);  // no outputs
        b.reduce(op, reduce_params("reduce", none, {false, true}), none, o0);
        Tensor empty = input({3, 0}, t, 10, d), o3 = out({3}, t, d);  // outputs over nothing
        b.reduce(op, reduce_params("reduce", empty, {false, true}), empty, o3);
        return std::vector<Tensor>{o0, o3};
      });
    check("zero-size matmul " + ty, kDense, [t](Backend& b, Device d) {
      Tensor a0 = input({2, 0, 4}, t, 11, d), b0 = input({2, 4, 3}, t, 12, d), c0 = out({2, 0, 3}, t, d);
      b.matmul({2, 0, 3, 4, 0, 0, 0, 12}, a0, b0, c0);
      Tensor ak = input({2, 5, 0}, t, 13, d), bk = input({2, 0, 3}, t, 14, d), ck = out({2, 5, 3}, t, d);
      b.matmul({2, 5, 3, 0, 0, 0, 0, 0}, ak, bk, ck);  // K = 0: zeros
      Tensor e = out({0, 5, 3}, t, d);
      b.matmul({0, 5, 3, 4, 0, 0, 20, 12}, input({0, 5, 4}, t, 15, d), input({0, 4, 3}, t, 16, d), e);
      return std::vector<Tensor>{c0, ck, e};
    });
    check("zero-size conv " + ty, kDense, [t](Backend& b, Device d) {
      const Conv2dParams none = conv(0, 4, 6, 8, 3), no_in = conv(2, 0, 6, 8, 3);
      Tensor x = input({0, 4, 6, 6}, t, 17, d), w = input({8, 4, 3, 3}, t, 18, d), bias = input({8}, t, 19, d);
      Tensor y = out({0, 8, 6, 6}, t, d), dx = out({0, 4, 6, 6}, t, d), dw = out({8, 4, 3, 3}, t, d),
             db = out({8}, t, d);
      b.conv2d_forward(none, x, w, &bias, y);
      b.conv2d_backward_data(none, y, w, dx);
      b.conv2d_backward_weights(none, x, y, dw, &db);  // nothing flowed back: zeros
      Tensor x0 = input({2, 0, 6, 6}, t, 20, d), w0 = input({8, 0, 3, 3}, t, 21, d), y0 = out({2, 8, 6, 6}, t, d);
      Conv2dParams relu = no_in;
      relu.relu = 1;
      b.conv2d_forward(relu, x0, w0, &bias, y0);  // an empty sum: relu(bias)
      return std::vector<Tensor>{y, dx, dw, db, y0};
    });
    check("zero-size layer norm " + ty, kDense, [t](Backend& b, Device d) {
      Tensor x = input({3, 0, 4}, t, 22, d), y = out({3, 0, 4}, t, d), m = out({12}, t, d), r = out({12}, t, d);
      b.layer_norm_forward({3, 0, 4, 1e-4}, x, nullptr, nullptr, nullptr, y, m, r);  // mean 0, rstd 100
      Tensor x2 = input({0, 6, 4}, t, 23, d), g = input({6}, t, 24, d), dy = input({0, 6, 4}, t, 25, d);
      Tensor dx = out({0, 6, 4}, t, d), dg = out({6}, t, d), dbeta = out({6}, t, d), none = out({0}, t, d);
      b.layer_norm_backward({0, 6, 4, 1e-5}, dy, x2, &g, none, none, dx, &dg, &dbeta);  // zeros
      return std::vector<Tensor>{y, m, r, dx, dg, dbeta};
    });
    check("zero-size linalg and random " + ty, kLinalg, [t](Backend& b, Device d) {
      Tensor a = input({0, 0}, t, 26, d), l = out({}, t, d), s = out({}, t, d), inv = out({0, 0}, t, d);
      b.slogdet(a, l, s);  // det of 0x0 is 1
      b.inverse(a, inv);
      Tensor u = out({0}, t, d), n = out({0, 3}, t, d);
      b.random_uniform(u, 0, 1, 5, 0);
      b.random_normal(n, 0, 1, 5, 0);
      return std::vector<Tensor>{l, s, inv, u, n};
    });
    check("zero-size optimizer kernels " + ty, kReduce, [t](Backend& b, Device d) {
      Tensor e = input({0}, t, 27, d), x = input({7}, t, 28, d), so = out({}, DType::F64, d), s0 = out({}, DType::F64, d);
      b.sum_of_squares({}, s0);  // an empty list sums to 0
      b.sum_of_squares({&e, &x}, so);
      Tensor eo = out({0}, t, d), xo = out({7}, t, d);
      b.scale_all({&e, &x}, scalar(0.5, DType::F64, d), {&eo, &xo});
      Tensor w = input({0}, t, 29, d), g = input({0}, t, 30, d), m = input({0}, t, 31, d), v = input({0}, t, 32, d);
      Tensor w2 = input({5}, t, 33, d), g2 = input({5}, t, 34, d), m2 = input({5}, t, 35, d, -0.1, 0.1),
             v2 = input({5}, t, 36, d, 0, 0.01);
      AdamTensors at{{&w, &w2}, {&m, &m2}, {&v, &v2}, {&g, &g2}};
      Tensor step = full({1}, 2.0, DType::F64, d);
      b.adam_step({1e-3, 0.9, 0.999, 1e-8, 0.0}, at, step, nullptr);
      return std::vector<Tensor>{s0, so, eo, xo, step, w2, m2, v2};
    });
  }
}
