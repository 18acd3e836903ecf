// SPDX-License-Identifier: Apache-2.0
// Autocast per op (engine/precision.h, engine/ops/autocast.h), CPU: under bf16/f16 the GEMM-class ops (matmul,
// linear, conv2d) return the low dtype with values equal, bit for bit, to the f32 op on the rounded inputs rounded
// once at the store; f32 leaves get f32 gradients equal to the rounded low-precision gradient; TF32 rounds the
// GEMM inputs; the ops a half activation flows through keep or promote dtypes as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/attention.h"
#include "engine/ops/autocast.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"

namespace leseg {
namespace {

std::vector<float> vals(const Tensor& t) { return t.detach().to(DType::f32).to_vector<float>(); }

// Bitwise equality of two float vectors (NaN-free inputs here).
void expect_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4), std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << what << " [" << i << "]: " << a[i] << " vs " << b[i];
  }
}

// The value a low-precision store makes of a float.
float round_to(DType dt, float f) { return dt == DType::bf16 ? round_through_bf16(f) : round_through_f16(f); }
Tensor rounded(const Tensor& x, DType dt) { return x.detach().to(dt).to(DType::f32); }

Tensor leaf(const Shape& s, uint64_t seed, double scale = 1.0) {
  Tensor t = Tensor::randn(s, seed) * scale;
  t = t.detach();
  t.requires_grad_(true);
  return t;
}

class AutocastLowp : public ::testing::TestWithParam<DType> {
 protected:
  Precision precision() const { return GetParam() == DType::bf16 ? Precision::bf16 : Precision::f16; }
};

TEST_P(AutocastLowp, LinearOutputValuesAndGradients) {
  const DType dt = GetParam();
  Tensor x = leaf(Shape{7, 13}, 1), w = leaf(Shape{5, 13}, 2, 0.3), b = leaf(Shape{5}, 3);
  Tensor c = Tensor::randn(Shape{7, 5}, 4);  // upstream weights of the loss
  Tensor y;
  {
    PrecisionScope ps(precision());
    y = linear(x, w, b);
    EXPECT_EQ(y.dtype(), dt);
    sum(y.to(DType::f32) * c).backward();  // y.to(f32)'s backward hands dy = c rounded to dt to linear
  }
  // Forward: the f32 op on the rounded inputs, rounded once at the store.
  Tensor ref = linear(rounded(x, dt), rounded(w, dt), rounded(b, dt));
  std::vector<float> r = vals(ref);
  for (float& v : r) v = round_to(dt, v);
  expect_bits(vals(y), r, "linear forward");
  // Gradients: f32 leaves get f32 gradients; each is the low-precision gradient (f32 GEMM of rounded operands,
  // rounded at the store) upcast.
  ASSERT_EQ(w.grad().dtype(), DType::f32);
  ASSERT_EQ(x.grad().dtype(), DType::f32);
  ASSERT_EQ(b.grad().dtype(), DType::f32);
  Tensor dy = rounded(c, dt);
  std::vector<float> dw = vals(matmul(dy, rounded(x, dt), true, false)), dx = vals(matmul(dy, rounded(w, dt)));
  std::vector<float> db = vals(sum(dy, 0));
  for (auto* v : {&dw, &dx, &db})
    for (float& f : *v) f = round_to(dt, f);
  expect_bits(vals(w.grad()), dw, "linear dW");
  expect_bits(vals(x.grad()), dx, "linear dx");
  // db: the bias gradient is a column sum (kernel order may differ from sum(dy, 0) by one rounding in f32).
  std::vector<float> gb = vals(b.grad());
  for (size_t i = 0; i < gb.size(); ++i) EXPECT_NEAR(gb[i], db[i], std::abs(db[i]) * 1e-2 + 1e-6) << i;
}

TEST_P(AutocastLowp, MatmulBatchedOutputAndValues) {
  const DType dt = GetParam();
  Tensor a = Tensor::randn(Shape{3, 4, 9}, 5), b = Tensor::randn(Shape{9, 6}, 6);
  Tensor y;
  {
    PrecisionScope ps(precision());
    y = matmul(a, b);
  }
  EXPECT_EQ(y.dtype(), dt);
  std::vector<float> r = vals(matmul(rounded(a, dt), rounded(b, dt)));
  for (float& v : r) v = round_to(dt, v);
  expect_bits(vals(y), r, "matmul");
  // f64 is the gradient-check type: autocast leaves it alone.
  PrecisionScope ps(precision());
  EXPECT_EQ(matmul(a.to(DType::f64), b.to(DType::f64)).dtype(), DType::f64);
}

TEST_P(AutocastLowp, Conv2dOutputValuesAndWeightGradient) {
  const DType dt = GetParam();
  Tensor x = leaf(Shape{2, 3, 6, 5}, 7), w = leaf(Shape{4, 3, 3, 3}, 8, 0.2), b = leaf(Shape{4}, 9);
  Tensor y;
  {
    PrecisionScope ps(precision());
    y = conv2d(x, w, b, 1, 1);
    EXPECT_EQ(y.dtype(), dt);
    sum(y).backward();
  }
  std::vector<float> r = vals(conv2d(rounded(x, dt), rounded(w, dt), rounded(b, dt), 1, 1));
  for (float& v : r) v = round_to(dt, v);
  expect_bits(vals(y), r, "conv2d forward");
  EXPECT_EQ(w.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  // dW of an all-ones dy: the f32 conv backward on the rounded input, rounded to dt.
  Tensor xr = rounded(x, dt), wr = rounded(w, dt);
  xr.requires_grad_(true), wr.requires_grad_(true);
  sum(conv2d(xr, wr, Tensor(), 1, 1)).backward();
  std::vector<float> dw = vals(wr.grad()), dx = vals(xr.grad());
  for (float& v : dw) v = round_to(dt, v);
  for (float& v : dx) v = round_to(dt, v);
  expect_bits(vals(w.grad()), dw, "conv2d dW");
  expect_bits(vals(x.grad()), dx, "conv2d dx");
}

TEST_P(AutocastLowp, HalfActivationFlowsThroughNormPoolConcatAndLoss) {
  const DType dt = GetParam();
  PrecisionScope ps(precision());
  Tensor x = Tensor::randn(Shape{2, 4, 6, 6}, 10).to(dt);
  // elementwise: keeps the dtype, arithmetic in f32, one rounding at the store
  Tensor r = relu(x * 1.5 + x);
  EXPECT_EQ(r.dtype(), dt);
  std::vector<float> xv = vals(x), rv = vals(r);
  for (size_t i = 0; i < xv.size(); ++i) {
    const float t = round_to(dt, round_to(dt, xv[i] * 1.5f) + xv[i]);
    EXPECT_EQ(rv[i], t > 0 ? t : 0.0f) << i;
  }
  // batch norm: statistics in f32, output in the input's dtype, running stats stay f32
  Tensor rm = Tensor::zeros(Shape{4}), rvar = Tensor::ones(Shape{4});
  Tensor bn = batch_norm(x, rm, rvar, Tensor::ones(Shape{4}), Tensor::zeros(Shape{4}), true);
  EXPECT_EQ(bn.dtype(), dt);
  EXPECT_EQ(rm.dtype(), DType::f32);
  std::vector<float> bref = vals(batch_norm(x.to(DType::f32), Tensor::zeros(Shape{4}), Tensor::ones(Shape{4}),
                                            Tensor::ones(Shape{4}), Tensor::zeros(Shape{4}), true));
  for (float& v : bref) v = round_to(dt, v);
  expect_bits(vals(bn), bref, "batch_norm");
  EXPECT_EQ(layer_norm(x).dtype(), dt);
  EXPECT_EQ(max_pool2d(x, 2).dtype(), dt);
  EXPECT_EQ(adaptive_avg_pool2d(x, 1).dtype(), dt);
  EXPECT_EQ(interpolate_bilinear(x, Size2(9, 9), false).dtype(), dt);
  EXPECT_EQ(concat({x, x}, 1).dtype(), dt);
  EXPECT_EQ(concat({x, x.to(DType::f32)}, 1).dtype(), DType::f32);  // mixed promotes to f32
  EXPECT_EQ((x + x.to(DType::f32)).dtype(), DType::f32);
  // the f32 list: softmax and reductions return f32
  EXPECT_EQ(softmax(x, 1).dtype(), DType::f32);
  EXPECT_EQ(sum(x).dtype(), DType::f32);
  EXPECT_EQ(mean(x, 1).dtype(), DType::f32);
  // gradients flow back through the half chain to an f32 leaf
  Tensor leafx = leaf(Shape{2, 4, 6, 6}, 11);
  Tensor h = relu(batch_norm(leafx.to(dt), Tensor::zeros(Shape{4}), Tensor::ones(Shape{4}), Tensor(), Tensor(), true));
  mean(max_pool2d(h, 2)).backward();
  ASSERT_TRUE(leafx.grad().defined());
  EXPECT_EQ(leafx.grad().dtype(), DType::f32);
  double gn = 0;
  for (float g : vals(leafx.grad())) gn += double(g) * g;
  EXPECT_GT(gn, 0.0);
}

TEST_P(AutocastLowp, EmulateRoundsValuesAndGradients) {
  const DType dt = GetParam();
  Tensor x = leaf(Shape{64}, 12);
  Tensor c = Tensor::randn(Shape{64}, 13);
  {
    PrecisionScope ps(precision());
    Tensor y = autocast_emulate(x);
    EXPECT_EQ(y.dtype(), DType::f32);
    expect_bits(vals(y), vals(rounded(x, dt)), "emulate forward");
    sum(y * c).backward();
  }
  expect_bits(vals(x.grad()), vals(rounded(c, dt)), "emulate backward");
  // off outside autocast
  Tensor z = autocast_emulate(x);
  expect_bits(vals(z), vals(x), "emulate off");
}

TEST_P(AutocastLowp, AttentionCastsQkvAndReturnsTheLowDtype) {
  const DType dt = GetParam();
  Tensor q = leaf(Shape{6, 2, 8}, 40), k = leaf(Shape{9, 2, 8}, 41), v = leaf(Shape{9, 2, 8}, 42);
  Tensor cq = Tensor::from_vector<int64_t>({0, 2, 6}, Shape{3}), ck = Tensor::from_vector<int64_t>({0, 4, 9}, Shape{3});
  // The reference (scalar) variant: its half path rounds only the inputs and the output, so the f32 comparison
  // below holds elementwise. The tensor-core variant also rounds P and dS (tests/engine/attention cover it).
  AttentionOptions o;
  o.variant = AttentionVariant::reference;
  Tensor y;
  {
    PrecisionScope ps(precision());
    y = attention(q, k, v, cq, ck, o);
    EXPECT_EQ(y.dtype(), dt);
    sum(y).backward();
  }
  // the same as the half kernel on the cast inputs, called outside autocast
  expect_bits(vals(y), vals(attention(q.detach().to(dt), k.detach().to(dt), v.detach().to(dt), cq, ck, o)),
              "attention");
  // and close to the f32 attention on the rounded inputs (one rounding of the output)
  std::vector<float> r = vals(attention(rounded(q, dt), rounded(k, dt), rounded(v, dt), cq, ck, o));
  std::vector<float> got = vals(y);
  for (size_t i = 0; i < r.size(); ++i) EXPECT_NEAR(got[i], r[i], std::abs(r[i]) * (dt == DType::bf16 ? 8e-3 : 1e-3) + 1e-6);
  EXPECT_EQ(q.grad().dtype(), DType::f32);
  EXPECT_EQ(v.grad().dtype(), DType::f32);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AutocastLowp, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(AutocastTf32, CpuRoundsGemmInputsToTf32) {
  Tensor x = Tensor::randn(Shape{8, 32}, 20), w = Tensor::randn(Shape{6, 32}, 21);
  Tensor y32 = linear(x, w), ytf;
  Tensor mtf, ctf;
  Tensor cx = Tensor::randn(Shape{1, 2, 5, 5}, 22), cw = Tensor::randn(Shape{3, 2, 3, 3}, 23);
  {
    PrecisionScope ps(Precision::tf32);
    ytf = linear(x, w);
    mtf = matmul(x, w, false, true);
    ctf = conv2d(cx, cw);
  }
  EXPECT_EQ(ytf.dtype(), DType::f32);
  expect_bits(vals(ytf), vals(linear(round_tf32_copy(x), round_tf32_copy(w))), "tf32 linear");
  expect_bits(vals(mtf), vals(matmul(round_tf32_copy(x), round_tf32_copy(w), false, true)), "tf32 matmul");
  expect_bits(vals(ctf), vals(conv2d(round_tf32_copy(cx), round_tf32_copy(cw))), "tf32 conv2d");
  // and the rounding is real: some output differs from the full-f32 GEMM
  std::vector<float> a = vals(ytf), b = vals(y32);
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  EXPECT_GT(differ, 0u);
}

TEST(AutocastF32, OffMeansUntouched) {
  Tensor x = Tensor::randn(Shape{4, 8}, 30), w = Tensor::randn(Shape{3, 8}, 31);
  Tensor y = linear(x, w);
  EXPECT_EQ(y.dtype(), DType::f32);
  // half tensors outside autocast: computed in f32, stored in their dtype
  Tensor yh = linear(x.to(DType::bf16), w.to(DType::bf16));
  EXPECT_EQ(yh.dtype(), DType::bf16);
  std::vector<float> r = vals(linear(rounded(x, DType::bf16), rounded(w, DType::bf16)));
  for (float& v : r) v = round_through_bf16(v);
  expect_bits(vals(yh), r, "bf16 linear outside autocast");
}

}  // namespace
}  // namespace leseg
