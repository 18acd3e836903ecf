// SPDX-License-Identifier: Apache-2.0
// The domain oracle with engine ops: for every (sequence, head), matmul_nt -> scale -> + bias -> softmax ->
// matmul built from engine/ops (linalg, nn_functional, elementwise, reduce), its autograd giving the
// gradients. The fused op must match output and gradients into q, k, v and the per-key bias (f64, CPU).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"

namespace leseg {
namespace {

void expect_close(const char* what, const Tensor& a, const Tensor& b) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  ASSERT_EQ(x.size(), y.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < x.size(); ++i) {
    nonzero |= y[i] != 0.0;
    if (!(std::abs(x[i] - y[i]) <= 1e-11 + 1e-9 * std::abs(y[i])) && bad++ < 6) {
      ADD_FAILURE() << what << "[" << i << "]: fused " << x[i] << " vs composition " << y[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(nonzero) << what << ": all zero";
}

TEST(AttentionComposition, FusedEqualsEngineMatmulSoftmaxMatmul) {
  const std::vector<int64_t> cu_q{0, 5, 6, 23}, cu_k{0, 9, 13, 43};  // lengths q 5, 1, 17; k 9, 4, 30
  const int64_t H = 2, D = 8, Tq = cu_q.back(), Tk = cu_k.back();
  const double scale = 0.4;
  Tensor q = Tensor::randn(Shape{Tq, H, D}, 1, 0, DType::f64).requires_grad_();
  Tensor k = Tensor::randn(Shape{Tk, H, D}, 1, 1, DType::f64).requires_grad_();
  Tensor v = Tensor::randn(Shape{Tk, H, D}, 1, 2, DType::f64).requires_grad_();
  Tensor bias = Tensor::randn(Shape{Tk, H}, 1, 3, DType::f64).requires_grad_();
  Tensor dout = Tensor::randn(Shape{Tq, H, D}, 1, 4, DType::f64);

  AttentionOptions opts;
  opts.scale = scale;
  opts.key_bias = bias;
  Tensor o = attention(q, k, v, Tensor::from_vector(cu_q, Shape{4}), Tensor::from_vector(cu_k, Shape{4}), opts);
  sum(mul(o, dout)).backward();
  const Tensor gq = q.grad(), gk = k.grad(), gv = v.grad(), gb = bias.grad();
  q.zero_grad();
  k.zero_grad();
  v.zero_grad();
  bias.zero_grad();

  // Composition: heads first (H, T, D), then one dense block per (sequence, head).
  const Tensor qh = transpose(q, 0, 1), kh = transpose(k, 0, 1), vh = transpose(v, 0, 1), bh = transpose(bias, 0, 1);
  const Tensor oh = transpose(o.detach(), 0, 1), dh = transpose(dout, 0, 1);
  Tensor loss;
  for (size_t b = 0; b + 1 < cu_q.size(); ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t q0 = cu_q[b], lq = cu_q[b + 1] - q0, k0 = cu_k[b], lk = cu_k[b + 1] - k0;
      Tensor Q = qh.select(h).narrow(q0, lq), K = kh.select(h).narrow(k0, lk), V = vh.select(h).narrow(k0, lk);
      Tensor S = add(mul(matmul_nt(Q, K), scale), bh.select(h).narrow(k0, lk));  // (lq, lk) + (lk)
      Tensor O = matmul(softmax(S, -1), V);                                       // (lq, D)
      expect_close("o block", oh.select(h).narrow(q0, lq), O);
      Tensor l = sum(mul(O, dh.select(h).narrow(q0, lq)));
      loss = loss.defined() ? add(loss, l) : l;
    }
  loss.backward();
  expect_close("q.grad", gq, q.grad());
  expect_close("k.grad", gk, k.grad());
  expect_close("v.grad", gv, v.grad());
  expect_close("bias.grad", gb, bias.grad());
}

}  // namespace
}  // namespace leseg
