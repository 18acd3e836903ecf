// SPDX-License-Identifier: Apache-2.0
// Engine op `attention`: autograd into q, k, v and the per-key bias vs the serial double composition
// (tests/kernels/attention/attention_reference.h), reshape helpers, empty/fully-masked sequences, and
// the errors on bad input. (Gradient check by finite differences and CUDA parity: harness cases in
// tests/engine/ops/attention_cases.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/autograd.h"
#include "engine/ops/attention.h"
#include "tests/kernels/attention/attention_reference.h"

namespace leseg {
namespace {

using testing::attn_ref::Problem;
using testing::attn_ref::Result;

std::vector<double> normal(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

Problem make(const std::vector<int64_t>& lq, const std::vector<int64_t>& lk, int64_t H, int64_t D, uint64_t seed) {
  Problem p;
  p.H = H;
  p.D = D;
  p.cu_q = offsets(lq);
  p.cu_k = offsets(lk);
  p.q = normal(size_t(p.tq() * H * D), seed);
  p.k = normal(size_t(p.tk() * H * D), seed + 1);
  p.v = normal(size_t(p.tk() * H * D), seed + 2);
  p.scale = 1.0 / std::sqrt(double(D));
  return p;
}

void expect_close(const char* what, const Tensor& got, const std::vector<double>& ref, double atol, double rtol,
                  bool allow_zero = false) {
  ASSERT_TRUE(got.defined()) << what << " is undefined";
  auto g = got.to_vector<double>();
  ASSERT_EQ(g.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0.0;
    if (!(std::abs(g[i] - ref[i]) <= atol + rtol * std::abs(ref[i])) && bad++ < 6) {
      ADD_FAILURE() << what << "[" << i << "]: op " << g[i] << " vs reference " << ref[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " differ";
  if (!allow_zero) {
    EXPECT_TRUE(nonzero) << what << ": reference all zero";
  }
}

struct OpRun {
  Tensor o, q, k, v, bias;
};

// Runs the op on `p` in dtype `t` with gradient dout; offsets as i64 (or i32 for cu_k when asked).
OpRun run_op(const Problem& p, const std::vector<double>& dout, DType t, DType cu_k_dtype = DType::i64,
             AttentionVariant variant = AttentionVariant::automatic) {
  OpRun r;
  r.q = Tensor::from_vector(p.q, Shape{p.tq(), p.H, p.D}).to(t).requires_grad_();
  r.k = Tensor::from_vector(p.k, Shape{p.tk(), p.H, p.D}).to(t).requires_grad_();
  r.v = Tensor::from_vector(p.v, Shape{p.tk(), p.H, p.D}).to(t).requires_grad_();
  AttentionOptions opts;
  opts.scale = p.scale;
  opts.variant = variant;
  if (!p.mask.empty()) opts.key_mask = Tensor::from_vector(p.mask, Shape{p.tk()});
  if (!p.bias.empty()) {
    r.bias = Tensor::from_vector(p.bias, Shape{p.tk(), p.H}).to(t).requires_grad_();
    opts.key_bias = r.bias;
  }
  Tensor cu_q = Tensor::from_vector(p.cu_q, Shape{int64_t(p.cu_q.size())});
  Tensor cu_k = Tensor::from_vector(p.cu_k, Shape{int64_t(p.cu_k.size())}).to(cu_k_dtype);
  r.o = attention(r.q, r.k, r.v, cu_q, cu_k, opts);
  r.o.backward(Tensor::from_vector(dout, Shape{p.tq(), p.H, p.D}).to(t));
  return r;
}

void check(const Problem& p, uint64_t seed, DType t, double atol, double rtol, DType cu_k_dtype = DType::i64) {
  const auto dout = normal(size_t(p.tq() * p.H * p.D), seed);
  const Result ref = testing::attn_ref::reference(p, dout);
  const OpRun r = run_op(p, dout, t, cu_k_dtype);
  expect_close("o", r.o, ref.o, atol, rtol);
  expect_close("q.grad", r.q.grad(), ref.dq, atol, rtol);
  expect_close("k.grad", r.k.grad(), ref.dk, atol, rtol);
  expect_close("v.grad", r.v.grad(), ref.dv, atol, rtol);
  if (!p.bias.empty()) expect_close("bias.grad", r.bias.grad(), ref.dbias, atol, rtol);
}

TEST(AttentionOp, SelfAttentionRaggedF64) {
  const std::vector<int64_t> lens{1, 7, 0, 40, 33};
  check(make(lens, lens, 2, 16, 1), 2, DType::f64, 1e-11, 1e-9);
}

TEST(AttentionOp, CrossAttentionMaskBiasF64MixedOffsetDtypes) {
  Problem p = make({20, 1, 5}, {70, 7, 65}, 3, 8, 3);
  std::mt19937 g(4);
  p.mask.resize(size_t(p.tk()));
  for (auto& m : p.mask) m = uint8_t(g() % 4 == 0);
  p.bias = normal(size_t(p.tk() * p.H), 5);
  p.scale = 0.3;
  check(p, 6, DType::f64, 1e-11, 1e-9, DType::i32);
}

TEST(AttentionOp, F32MatchesReference) {
  Problem p = make({9, 64}, {9, 64}, 2, 32, 7);
  p.bias = normal(size_t(p.tk() * p.H), 8);
  // f32 inputs (rel 6e-8) through logits of O(few), accumulated in double
  check(p, 9, DType::f32, 2e-5, 2e-4);
}

std::vector<double> round_to(const std::vector<double>& v, DType t) {
  return Tensor::from_vector(v, Shape{int64_t(v.size())}).to(t).to_vector<double>();
}

TEST(AttentionOp, HalfInputsGiveOutputAndGradientsInTheirDtype) {
  for (DType t : {DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(t));
    Problem p = make({9, 40}, {12, 40}, 2, 16, 21);
    p.bias = normal(size_t(p.tk() * p.H), 22);
    p.mask = std::vector<uint8_t>(size_t(p.tk()), 0);
    p.mask[3] = p.mask[30] = 1;
    // the oracle sees exactly the half inputs
    p.q = round_to(p.q, t);
    p.k = round_to(p.k, t);
    p.v = round_to(p.v, t);
    p.bias = round_to(p.bias, t);
    const auto dout = round_to(normal(size_t(p.tq() * p.H * p.D), 23), t);
    const Result ref = testing::attn_ref::reference(p, dout);
    // The reference variant: f32 arithmetic on the half inputs (the tensor-core variant's extra P/dS roundings
    // are covered in attention_variant_test.cpp).
    const OpRun r = run_op(p, dout, t, DType::i64, AttentionVariant::reference);
    for (const Tensor& x : {r.o, r.q.grad(), r.k.grad(), r.v.grad(), r.bias.grad()})
      EXPECT_EQ(x.dtype(), t) << "output / gradient dtype";
    // f32 arithmetic, one rounding to the half type at every store (rel 2^-11 f16, 2^-8 bf16); gradients
    // also see the rounded o through D_i = <dO, o> (a few half-ulps of sqrt(D)-sized dot products).
    const double rel = t == DType::f16 ? 1.0 / 2048 : 1.0 / 256;
    const double atol = 2e-5 + 4.0 * rel * std::sqrt(double(p.D));
    expect_close("o", r.o, ref.o, 2e-5, 2e-4 + rel);
    expect_close("q.grad", r.q.grad(), ref.dq, atol, 2e-4 + rel);
    expect_close("k.grad", r.k.grad(), ref.dk, atol, 2e-4 + rel);
    expect_close("v.grad", r.v.grad(), ref.dv, 2e-5, 2e-4 + rel);
    expect_close("bias.grad", r.bias.grad(), ref.dbias, atol, 2e-4 + rel);
    // through a cast from f32 leaves: the gradients come back to the leaves as f32, equal to the half ones
    Tensor q32 = Tensor::from_vector(p.q, Shape{p.tq(), p.H, p.D}).to(DType::f32).requires_grad_();
    Tensor k32 = Tensor::from_vector(p.k, Shape{p.tk(), p.H, p.D}).to(DType::f32).requires_grad_();
    Tensor v32 = Tensor::from_vector(p.v, Shape{p.tk(), p.H, p.D}).to(DType::f32);
    Tensor cq = Tensor::from_vector(p.cu_q, Shape{int64_t(p.cu_q.size())});
    Tensor ck = Tensor::from_vector(p.cu_k, Shape{int64_t(p.cu_k.size())});
    AttentionOptions o;
    o.scale = p.scale;
    o.variant = AttentionVariant::reference;
    o.key_mask = Tensor::from_vector(p.mask, Shape{p.tk()});
    o.key_bias = Tensor::from_vector(p.bias, Shape{p.tk(), p.H}).to(t);
    Tensor out = attention(q32.to(t), k32.to(t), v32.to(t), cq, ck, o);
    out.backward(Tensor::from_vector(dout, Shape{p.tq(), p.H, p.D}).to(t));
    EXPECT_EQ(q32.grad().dtype(), DType::f32);
    EXPECT_EQ(q32.grad().to_vector<double>(), r.q.grad().to_vector<double>());
    EXPECT_EQ(k32.grad().to_vector<double>(), r.k.grad().to_vector<double>());
  }
}

TEST(AttentionOp, FullyMaskedSequenceHasZeroOutputAndGradients) {
  Problem p = make({4, 6}, {5, 3}, 2, 16, 10);
  p.mask = {0, 1, 0, 0, 1, /*seq 1:*/ 1, 1, 1};
  p.bias = normal(size_t(p.tk() * p.H), 11);
  const auto dout = normal(size_t(p.tq() * p.H * p.D), 12);
  const OpRun r = run_op(p, dout, DType::f64);
  const Result ref = testing::attn_ref::reference(p, dout);
  expect_close("o", r.o, ref.o, 1e-11, 1e-9);
  expect_close("q.grad", r.q.grad(), ref.dq, 1e-11, 1e-9);
  expect_close("k.grad", r.k.grad(), ref.dk, 1e-11, 1e-9);
  auto o = r.o.to_vector<double>(), gq = r.q.grad().to_vector<double>(), gk = r.k.grad().to_vector<double>();
  for (int64_t i = 4 * p.H * p.D; i < p.tq() * p.H * p.D; ++i) {
    ASSERT_EQ(o[size_t(i)], 0.0);
    ASSERT_EQ(gq[size_t(i)], 0.0);
  }
  for (int64_t i = 5 * p.H * p.D; i < p.tk() * p.H * p.D; ++i) ASSERT_EQ(gk[size_t(i)], 0.0);
}

TEST(AttentionOp, EmptyBatchAndEmptyRows) {
  Tensor q = Tensor::zeros(Shape{0, 2, 4}, DType::f64).requires_grad_();
  Tensor k = Tensor::zeros(Shape{0, 2, 4}, DType::f64).requires_grad_();
  Tensor cu = Tensor::from_vector<int64_t>({0}, Shape{1});
  Tensor o = attention(q, k, k, cu, cu);
  EXPECT_EQ(o.shape(), (Shape{0, 2, 4}));
  Tensor cu2 = Tensor::from_vector<int64_t>({0, 0, 0}, Shape{3});
  EXPECT_EQ(attention(q, k, k, cu2, cu2).numel(), 0);
}

TEST(AttentionOp, MultiHeadAttentionEqualsSplitAttentionMerge) {
  Problem p = make({5, 12}, {8, 3}, 4, 8, 13);
  Tensor qp = Tensor::from_vector(p.q, Shape{p.tq(), p.H * p.D});
  Tensor kp = Tensor::from_vector(p.k, Shape{p.tk(), p.H * p.D});
  Tensor vp = Tensor::from_vector(p.v, Shape{p.tk(), p.H * p.D});
  Tensor cu_q = Tensor::from_vector(p.cu_q, Shape{3}), cu_k = Tensor::from_vector(p.cu_k, Shape{3});
  Tensor a = multi_head_attention(qp, kp, vp, cu_q, cu_k, p.H);
  EXPECT_EQ(a.shape(), (Shape{p.tq(), p.H * p.D}));
  const Result ref = testing::attn_ref::reference(p, std::vector<double>(p.q.size(), 0.0));
  expect_close("mha", a, ref.o, 1e-11, 1e-9);
  EXPECT_EQ(split_heads(qp, 4).shape(), (Shape{p.tq(), 4, 8}));
  EXPECT_EQ(merge_heads(split_heads(qp, 4)).shape(), qp.shape());
  EXPECT_THROW(split_heads(qp, 5), Error);
}

TEST(AttentionOp, RejectsBadInput) {
  Tensor q = Tensor::zeros(Shape{4, 2, 8}, DType::f32), k = Tensor::zeros(Shape{6, 2, 8}, DType::f32);
  Tensor cq = Tensor::from_vector<int64_t>({0, 1, 4}, Shape{3}), ck = Tensor::from_vector<int64_t>({0, 3, 6}, Shape{3});
  EXPECT_NO_THROW(attention(q, k, k, cq, ck));
  // offsets: wrong end, decreasing, not starting at 0, different batch, float dtype, 2-D
  EXPECT_THROW(attention(q, k, k, Tensor::from_vector<int64_t>({0, 1, 3}, Shape{3}), ck), Error);
  EXPECT_THROW(attention(q, k, k, Tensor::from_vector<int64_t>({0, 5, 4}, Shape{3}), ck), Error);
  EXPECT_THROW(attention(q, k, k, Tensor::from_vector<int64_t>({1, 2, 4}, Shape{3}), ck), Error);
  EXPECT_THROW(attention(q, k, k, Tensor::from_vector<int64_t>({0, 4}, Shape{2}), ck), Error);
  EXPECT_THROW(attention(q, k, k, Tensor::from_vector<float>({0, 1, 4}, Shape{3}), ck), Error);
  EXPECT_THROW(attention(q, k, k, cq.reshape(Shape{1, 3}), ck), Error);
  // shapes and dtypes
  EXPECT_THROW(attention(q, Tensor::zeros(Shape{6, 2, 4}), k, cq, ck), Error);      // head dim differs
  EXPECT_THROW(attention(q, k, Tensor::zeros(Shape{6, 3, 8}), cq, ck), Error);      // v differs from k
  EXPECT_THROW(attention(q.reshape(Shape{4, 16}), k, k, cq, ck), Error);            // not 3-D
  EXPECT_THROW(attention(q.to(DType::f64), k, k, cq, ck), Error);                   // mixed dtypes
  EXPECT_THROW(attention(q.to(DType::i32), k.to(DType::i32), k.to(DType::i32), cq, ck), Error);  // not floating
  EXPECT_NO_THROW(attention(q.to(DType::f16), k.to(DType::f16), k.to(DType::f16), cq, ck));     // half storage
  AttentionOptions bad_mask;
  bad_mask.key_mask = Tensor::zeros(Shape{5}, DType::u8);
  EXPECT_THROW(attention(q, k, k, cq, ck, bad_mask), Error);
  AttentionOptions float_mask;
  float_mask.key_mask = Tensor::zeros(Shape{6}, DType::f32);
  EXPECT_THROW(attention(q, k, k, cq, ck, float_mask), Error);
  AttentionOptions bad_bias;
  bad_bias.key_bias = Tensor::zeros(Shape{6, 3}, DType::f32);
  EXPECT_THROW(attention(q, k, k, cq, ck, bad_bias), Error);
  bad_bias.key_bias = Tensor::zeros(Shape{6, 2}, DType::f64);
  EXPECT_THROW(attention(q, k, k, cq, ck, bad_bias), Error);
  AttentionOptions bool_mask;
  bool_mask.key_mask = Tensor::zeros(Shape{6}, DType::b8);
  EXPECT_NO_THROW(attention(q, k, k, cq, ck, bool_mask));
}

TEST(AttentionOp, NoGradRecordsNothing) {
  Problem p = make({3}, {4}, 1, 4, 14);
  Tensor q = Tensor::from_vector(p.q, Shape{3, 1, 4}).requires_grad_();
  Tensor k = Tensor::from_vector(p.k, Shape{4, 1, 4});
  Tensor cq = Tensor::from_vector(p.cu_q, Shape{2}), ck = Tensor::from_vector(p.cu_k, Shape{2});
  {
    NoGradGuard ng;
    EXPECT_FALSE(attention(q, k, k, cq, ck).grad_fn());
  }
  EXPECT_TRUE(attention(q, k, k, cq, ck).grad_fn());
}

}  // namespace
}  // namespace leseg
