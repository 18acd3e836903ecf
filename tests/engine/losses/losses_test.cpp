// SPDX-License-Identifier: Apache-2.0
// Fused loss ops (engine/ops/losses.h) against their unfused composition of engine ops (log_softmax, mul,
// sum, mean, ...): values and autograd gradients element by element; plus the finite-and-zero-gradient
// contract when every row is ignored, incoming-gradient scaling, and clear errors on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
Tensor randn_leaf(Shape s, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  Tensor t = randn(s, g, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] *= scale;
  return t.requires_grad_();
}
Tensor clone_leaf(const Tensor& t) { return t.detach().clone().requires_grad_(); }

void expect_close(const Tensor& a, const Tensor& ref, double atol, double rtol, const char* what) {
  ASSERT_TRUE(a.defined()) << what;
  ASSERT_EQ(a.shape(), ref.shape()) << what;
  auto x = a.to_vector<double>(), y = ref.to_vector<double>();
  int bad = 0;
  bool nonzero = false;
  for (size_t j = 0; j < x.size(); ++j) {
    nonzero |= y[j] != 0;
    if (!(std::abs(x[j] - y[j]) <= atol + rtol * std::abs(y[j])) && bad++ < 8)
      ADD_FAILURE() << what << "[" << j << "]: got " << x[j] << ", ref " << y[j];
  }
  EXPECT_TRUE(nonzero) << what << ": reference is all zero";
}
// One-hot (N, C) f64 mask of the labels (ignored rows all zero) and the count of valid rows.
Tensor one_hot_mask(const std::vector<int64_t>& y, int64_t C, int64_t ignore) {
  Tensor m = Tensor::zeros(Shape{int64_t(y.size()), C}, DType::f64);
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i] != ignore) m.data<double>()[i * size_t(C) + size_t(y[i])] = 1.0;
  return m;
}
}  // namespace

TEST(LossOps, CrossEntropyEqualsComposition) {
  const int64_t N = 9, C = 5;
  std::vector<int64_t> y = {0, 4, -1, 2, 3, -1, 1, 1, 0};
  Tensor z = randn_leaf(Shape{N, C}, 1, 2.0), z2 = clone_leaf(z);
  Tensor labels = Tensor::from_vector(y, Shape{N});
  Tensor loss = cross_entropy(z, labels);
  loss.backward();
  Tensor ref = div(neg(sum(mul(one_hot_mask(y, C, -1), log_softmax(z2, 1)))), 7.0);
  ref.backward();
  expect_close(loss, ref, 1e-12, 1e-12, "loss");
  expect_close(z.grad(), z2.grad(), 1e-12, 1e-10, "dz");
}

TEST(LossOps, CrossEntropyWeightsAndSmoothingEqualComposition) {
  const int64_t N = 6, C = 4;
  std::vector<int64_t> y = {3, -1, 0, 2, 2, 1};
  std::vector<double> w = {0.5, 2.0, 1.0, 0.25};
  const double eps = 0.2;
  Tensor z = randn_leaf(Shape{N, C}, 2), z2 = clone_leaf(z);
  CrossEntropyOptions o;
  o.class_weights = Tensor::from_vector(w, Shape{C});
  o.label_smoothing = eps;
  Tensor loss = cross_entropy(z, Tensor::from_vector(y, Shape{N}), o);
  loss.backward();
  // PyTorch: [(1-ε) Σ_i w_y (-log p_y) + ε/C Σ_i Σ_k w_k (-log p_k)] / Σ_i w_y, over valid rows
  Tensor valid = Tensor::zeros(Shape{N, 1}, DType::f64);
  double den = 0;
  for (int64_t i = 0; i < N; ++i)
    if (y[size_t(i)] >= 0) valid.data<double>()[i] = 1, den += w[size_t(y[size_t(i)])];
  Tensor wt = Tensor::from_vector(w, Shape{1, C});
  Tensor lp = log_softmax(z2, 1);
  Tensor nll = sum(mul(mul(one_hot_mask(y, C, -1), wt), lp));
  Tensor smooth = sum(mul(mul(valid, wt), lp));
  Tensor ref = div(neg(add(mul(nll, 1 - eps), mul(smooth, eps / double(C)))), den);
  ref.backward();
  expect_close(loss, ref, 1e-12, 1e-12, "loss");
  expect_close(z.grad(), z2.grad(), 1e-12, 1e-10, "dz");
}

TEST(LossOps, AllIgnoredGivesZeroLossAndZeroGradient) {
  for (DType t : {DType::f32, DType::f64}) {
    Tensor z = Tensor::full(Shape{4, 3}, 1e4, t).requires_grad_();
    Tensor loss = cross_entropy(z, Tensor::full(Shape{4}, -1, DType::i64));
    EXPECT_EQ(loss.item_double(), 0.0);
    loss.backward();
    for (double g : z.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
    Tensor z2 = Tensor::full(Shape{4, 3}, -1e4, t).requires_grad_();
    Tensor nl = negative_learning(z2, Tensor::full(Shape{4}, -1, DType::i64));
    EXPECT_EQ(nl.item_double(), 0.0);
    nl.backward();
    for (double g : z2.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
  }
  // N = 0
  Tensor e = Tensor::zeros(Shape{0, 5}).requires_grad_();
  Tensor l0 = cross_entropy(e, Tensor::zeros(Shape{0}, DType::i64));
  EXPECT_EQ(l0.item_double(), 0.0);
  l0.backward();
  EXPECT_EQ(e.grad().numel(), 0);
}

TEST(LossOps, IncomingGradientScales) {
  Tensor z = randn_leaf(Shape{5, 3}, 3), z2 = clone_leaf(z);
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 1, 0}, Shape{5});
  cross_entropy(z, y).backward();
  cross_entropy(z2, y).backward(Tensor::scalar(2.5));
  auto a = z.grad().to_vector<double>(), b = z2.grad().to_vector<double>();
  for (size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(b[j], 2.5 * a[j], 1e-15);
}

TEST(LossOps, SoftCrossEntropyAndEntropyEqualComposition) {
  Tensor z = randn_leaf(Shape{6, 5}, 4), p = randn_leaf(Shape{6, 5}, 5);
  Tensor z2 = clone_leaf(z), p2 = clone_leaf(p);
  Tensor loss = soft_cross_entropy(z, p);
  loss.backward();
  Tensor ref = mean(neg(sum(mul(p2, log_softmax(z2, 1)), 1)));
  ref.backward();
  expect_close(loss, ref, 1e-12, 1e-12, "soft_ce");
  expect_close(z.grad(), z2.grad(), 1e-12, 1e-10, "dz");
  expect_close(p.grad(), p2.grad(), 1e-12, 1e-10, "dp");
  // stop-gradient into p
  Tensor p3 = clone_leaf(p);
  soft_cross_entropy(clone_leaf(z), p3, true).backward();
  EXPECT_FALSE(p3.grad().defined());

  Tensor x = randn_leaf(Shape{7, 4}, 6, 2.0), x2 = clone_leaf(x);
  Tensor h = entropy(x);
  h.backward();
  Tensor lq = log_softmax(x2, 1);
  Tensor href = mean(neg(sum(mul(exp(lq), lq), 1)));
  href.backward();
  expect_close(h, href, 1e-12, 1e-12, "entropy");
  expect_close(x.grad(), x2.grad(), 1e-12, 1e-10, "dH");
}

TEST(LossOps, KlDivEqualsDistillKLComposition) {
  const double T = 2.0;
  const int64_t N = 5, C = 6;
  Tensor s = randn_leaf(Shape{N, C}, 7), t = randn_leaf(Shape{N, C}, 8);
  // CLIP2Scene DistillKL(student, teacher) = KL(teacher ‖ student)·T²/N: p = teacher here.
  for (KLReduction red : {KLReduction::BatchMean, KLReduction::Sum, KLReduction::Mean}) {
    Tensor s1 = clone_leaf(s), t1 = clone_leaf(t), s2 = clone_leaf(s), t2 = clone_leaf(t);
    Tensor loss = kl_div(s1, t1, T, KLDirection::QP, red);  // KL(q‖p) with q = softmax(t/T)
    loss.backward();
    Tensor lpt = log_softmax(div(t2, T), 1), lps = log_softmax(div(s2, T), 1);
    Tensor total = mul(sum(mul(exp(lpt), sub(lpt, lps))), T * T);
    Tensor ref = red == KLReduction::Sum ? total : div(total, red == KLReduction::BatchMean ? double(N) : double(N * C));
    ref.backward();
    expect_close(loss, ref, 1e-12, 1e-12, "kl");
    expect_close(s1.grad(), s2.grad(), 1e-12, 1e-10, "d_student");
    expect_close(t1.grad(), t2.grad(), 1e-12, 1e-10, "d_teacher");
  }
  // detached teacher: no gradient asked, none computed
  Tensor s3 = clone_leaf(s);
  kl_div(s3, t.detach(), T).backward();
  EXPECT_TRUE(s3.grad().defined());
}

TEST(LossOps, NegativeLearningEqualsCompositionAndIsStable) {
  const int64_t N = 6, C = 4;
  std::vector<int64_t> y = {1, 0, -1, 3, 2, 2};
  Tensor z = randn_leaf(Shape{N, C}, 9), z2 = clone_leaf(z);
  Tensor loss = negative_learning(z, Tensor::from_vector(y, Shape{N}));
  loss.backward();
  // -log(1 - q_y) summed over valid rows / 5 (naive form is fine at these magnitudes)
  Tensor qy = sum(mul(one_hot_mask(y, C, -1), softmax(z2, 1)), 1);
  Tensor valid = Tensor::from_vector<double>({1, 1, 0, 1, 1, 1}, Shape{N});
  Tensor ref = div(neg(sum(mul(valid, log(sub(1.0, qy))))), 5.0);
  ref.backward();
  expect_close(loss, ref, 1e-12, 1e-10, "nl");
  expect_close(z.grad(), z2.grad(), 1e-10, 1e-8, "dz");
  // q_y = 1 in floating point: the fused form stays finite (≈ 1e4 - log 2), gradients too
  Tensor zh = Tensor::from_vector<float>({1e4f, 0.f, 0.f}, Shape{1, 3}).requires_grad_();
  Tensor lh = negative_learning(zh, Tensor::from_vector<int64_t>({0}, Shape{1}));
  EXPECT_NEAR(lh.item_double(), 1e4 - std::log(2.0), 1e-2);
  lh.backward();
  for (double g : zh.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_THROW(negative_learning(randn_leaf(Shape{3, 1}, 1), Tensor::zeros(Shape{3}, DType::i64)), Error);
}

TEST(LossOps, ConfidenceSplitEqualsCeAndNlOnTheSplit) {
  const int64_t N = 6, C = 3;
  Tensor teacher = Tensor::from_vector<double>({5, 0, 0, 0.1, 0.2, 0, 1, 1, -3, -2, 6, 0, 0, 0, 0.3, 0, 0, 9}, Shape{N, C});
  Tensor z = randn_leaf(Shape{N, C}, 10), z2 = clone_leaf(z);
  ConfidenceSplit s = confidence_split(z, teacher, 0.7);
  EXPECT_EQ(s.pseudo_labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 1, 2, 2}));
  EXPECT_EQ(s.reliable.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 0, 1, 0, 1}));
  add(mul(s.loss_ce, 0.75), mul(s.loss_nl, -1.5)).backward();
  Tensor yce = Tensor::from_vector<int64_t>({0, -1, -1, 1, -1, 2}, Shape{N});
  Tensor ynl = Tensor::from_vector<int64_t>({-1, 1, 0, -1, 2, -1}, Shape{N});
  Tensor rce = cross_entropy(z2, yce), rnl = negative_learning(z2, ynl);
  add(mul(rce, 0.75), mul(rnl, -1.5)).backward();
  expect_close(s.loss_ce, rce, 1e-14, 1e-14, "loss_ce");
  expect_close(s.loss_nl, rnl, 1e-14, 1e-14, "loss_nl");
  expect_close(z.grad(), z2.grad(), 1e-14, 1e-12, "dz");
  // τ above every max prob: all rows unreliable, the CE term is 0 with no NaN
  ConfidenceSplit all_nl = confidence_split(clone_leaf(z), teacher, 1.01);
  EXPECT_EQ(all_nl.loss_ce.item_double(), 0.0);
  EXPECT_GT(all_nl.loss_nl.item_double(), 0.0);
}

TEST(LossOps, CosineEmbeddingAndMseEqualComposition) {
  Tensor a = randn_leaf(Shape{5, 8}, 11), b = randn_leaf(Shape{5, 8}, 12);
  Tensor a2 = clone_leaf(a), b2 = clone_leaf(b);
  Tensor loss = cosine_embedding_loss(a, b);
  loss.backward();
  Tensor na = sqrt(add(sum(mul(a2, a2), 1), 1e-12)), nb = sqrt(add(sum(mul(b2, b2), 1), 1e-12));
  Tensor ref = mean(sub(1.0, div(sum(mul(a2, b2), 1), mul(na, nb))));
  ref.backward();
  expect_close(loss, ref, 1e-12, 1e-12, "cos");
  expect_close(a.grad(), a2.grad(), 1e-12, 1e-10, "da");
  expect_close(b.grad(), b2.grad(), 1e-12, 1e-10, "db");

  Tensor x = randn_leaf(Shape{3, 4, 5}, 13), y = randn_leaf(Shape{3, 4, 5}, 14);
  Tensor x2 = clone_leaf(x), y2 = clone_leaf(y);
  Tensor m = mse_loss(x, y);
  m.backward();
  Tensor d = sub(x2, y2);
  Tensor mref = mean(mul(d, d));
  mref.backward();
  expect_close(m, mref, 1e-12, 1e-12, "mse");
  expect_close(x.grad(), x2.grad(), 1e-14, 1e-12, "dx");
  expect_close(y.grad(), y2.grad(), 1e-14, 1e-12, "dy");
}

TEST(LossOps, BadInputsAreClearErrors) {
  Tensor z = randn_leaf(Shape{4, 3}, 1);
  EXPECT_THROW(cross_entropy(z, Tensor::zeros(Shape{5}, DType::i64)), Error);
  EXPECT_THROW(cross_entropy(z, Tensor::zeros(Shape{4}, DType::f32)), Error);
  EXPECT_THROW(cross_entropy(z.reshape(Shape{12}), Tensor::zeros(Shape{12}, DType::i64)), Error);
  CrossEntropyOptions o;
  o.class_weights = Tensor::ones(Shape{4}, DType::f64);
  EXPECT_THROW(cross_entropy(z, Tensor::zeros(Shape{4}, DType::i64), o), Error);
  EXPECT_THROW(kl_div(z, randn_leaf(Shape{4, 2}, 2)), Error);
  EXPECT_THROW(kl_div(z, z, -1.0), Error);
  EXPECT_THROW(mse_loss(z, z.to(DType::f32)), Error);
  EXPECT_THROW(cross_entropy(z, Tensor::from_vector<int64_t>({0, 1, 7, 0}, Shape{4})), std::exception);
}

// Half logits: the loss value is f32 and equals the f32 op on the up-converted logits exactly (same
// double accumulation); the gradient comes back in the logits' dtype, within two roundings to it of the
// f32 gradient (the saved unscaled gradient, then the scaled one: 2 · 2^-11 relative for f16, 2 · 2^-8
// for bf16, plus the f16 subnormal spacing 2^-24 for tiny entries).
TEST(LossOps, HalfLogitsGiveF32LossAndGradientInTheirDtype) {
  for (DType t : {DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(t));
    const double rel = 2.0 * (t == DType::f16 ? 1.0 / 2048 : 1.0 / 256);
    const double atol = t == DType::f16 ? 1.0 / 16777216.0 : 0.0;
    const int64_t N = 11, C = 7;
    Generator g(31);
    Tensor zh = mul(randn(Shape{N, C}, g), 3.0).to(t), th = randn(Shape{N, C}, g).to(t);
    Tensor z32 = zh.to(DType::f32), t32 = th.to(DType::f32);
    Tensor y = Tensor::from_vector<int64_t>({0, 6, -1, 2, 3, 5, 1, 1, -1, 4, 0}, Shape{N});
    CrossEntropyOptions o;
    o.label_smoothing = 0.1;
    o.class_weights = Tensor::from_vector<float>({0.5f, 1.f, 2.f, 0.25f, 1.5f, 1.f, 0.75f}, Shape{C});
    using Fn = std::function<Tensor(const Tensor&, const Tensor&)>;
    const std::vector<std::pair<const char*, Fn>> losses = {
        {"cross_entropy", [&](const Tensor& z, const Tensor&) { return cross_entropy(z, y, o); }},
        {"soft_cross_entropy", [&](const Tensor& z, const Tensor& p) { return soft_cross_entropy(z, p); }},
        {"entropy", [&](const Tensor& z, const Tensor&) { return entropy(z); }},
        {"kl_div", [&](const Tensor& z, const Tensor& p) { return kl_div(z, p, 2.0); }},
        {"negative_learning", [&](const Tensor& z, const Tensor&) { return negative_learning(z, y); }},
        {"confidence_split", [&](const Tensor& z, const Tensor& p) {
           ConfidenceSplit s = confidence_split(z, p, 0.4);
           return add(mul(s.loss_ce, 0.75), mul(s.loss_nl, -1.5));
         }},
        {"cosine_embedding", [&](const Tensor& z, const Tensor& p) { return cosine_embedding_loss(z, p); }},
        {"mse", [&](const Tensor& z, const Tensor& p) { return mse_loss(z, p); }},
    };
    for (const auto& [name, f] : losses) {
      SCOPED_TRACE(name);
      Tensor a = zh.detach().requires_grad_(), b = z32.detach().requires_grad_();
      Tensor lh = f(a, th), lf = f(b, t32);
      EXPECT_EQ(lh.dtype(), DType::f32);
      EXPECT_EQ(lh.item_double(), lf.item_double());
      lh.backward(Tensor::scalar(2.0f));
      lf.backward(Tensor::scalar(2.0f));
      ASSERT_EQ(a.grad().dtype(), t);
      auto gh = a.grad().to_vector<double>(), gf = b.grad().to_vector<double>();
      int bad = 0;
      bool nonzero = false;
      for (size_t j = 0; j < gh.size(); ++j) {
        nonzero |= gf[j] != 0;
        if (!(std::abs(gh[j] - gf[j]) <= atol + rel * std::abs(gf[j])) && bad++ < 8)
          ADD_FAILURE() << name << " grad[" << j << "]: half " << gh[j] << ", f32 " << gf[j];
      }
      EXPECT_TRUE(nonzero);
    }
    // weights may also be given in the logits' half dtype; gradients flow back through a cast to f32 leaves
    Tensor leaf = z32.detach().requires_grad_();
    CrossEntropyOptions oh = o;
    oh.class_weights = o.class_weights.to(t);
    cross_entropy(leaf.to(t), y, oh).backward();
    EXPECT_EQ(leaf.grad().dtype(), DType::f32);
    // fan-out: half logits feeding two losses accumulate their gradients (summed in f32, rounded once)
    Tensor zf = zh.detach().requires_grad_(), z1 = zh.detach().requires_grad_(), z2 = zh.detach().requires_grad_();
    add(cross_entropy(zf, y), entropy(zf)).backward();
    cross_entropy(z1, y).backward();
    entropy(z2).backward();
    ASSERT_EQ(zf.grad().dtype(), t);
    {
      auto gs = zf.grad().to_vector<double>(), g1 = z1.grad().to_vector<double>(), g2 = z2.grad().to_vector<double>();
      for (size_t j = 0; j < gs.size(); ++j) {
        const double ref = Tensor::scalar(float(g1[j] + g2[j])).to(t).to_vector<double>()[0];
        ASSERT_EQ(gs[j], ref) << "fan-out grad[" << j << "]";
      }
    }
    // every row ignored: finite 0 and zero half gradients
    Tensor zi = zh.detach().requires_grad_();
    Tensor l0 = cross_entropy(zi, Tensor::full(Shape{N}, -1, DType::i64));
    EXPECT_EQ(l0.item_double(), 0.0);
    l0.backward();
    for (double v : zi.grad().to_vector<double>()) EXPECT_EQ(v, 0.0);
  }
  // integer logits stay an error
  EXPECT_THROW(entropy(Tensor::zeros(Shape{2, 3}, DType::i32)), Error);
}
