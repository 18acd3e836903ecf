// SPDX-License-Identifier: Apache-2.0
// Fused loss kernels (CPU twins) against naive double-precision references: values element by element,
// gradients against central finite differences of the reference; edge cases (all ignored, C = 1, N = 0,
// logits of ±1e4, ties in the teacher's argmax).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kernels/losses/losses.h"

using namespace leseg::kernels;
using Vec = std::vector<double>;

namespace {

Vec randn(size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// log softmax of one row, two passes (max, then sum) — the unfused reference.
Vec log_softmax(const double* z, int64_t C) {
  double m = -INFINITY;
  for (int64_t k = 0; k < C; ++k) m = std::max(m, z[k]);
  double s = 0;
  for (int64_t k = 0; k < C; ++k) s += std::exp(z[k] - m);
  Vec r(static_cast<size_t>(C));
  for (int64_t k = 0; k < C; ++k) r[size_t(k)] = z[k] - m - std::log(s);
  return r;
}

Vec fd_grad(const std::function<double(const Vec&)>& f, Vec x, double eps = 1e-6) {
  Vec g(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    const double o = x[j];
    x[j] = o + eps;
    const double lp = f(x);
    x[j] = o - eps;
    const double lm = f(x);
    x[j] = o;
    g[j] = (lp - lm) / (2 * eps);
  }
  return g;
}

void expect_close(const Vec& got, const Vec& ref, double atol, double rtol, const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  for (size_t j = 0; j < got.size(); ++j)
    if (!(std::abs(got[j] - ref[j]) <= atol + rtol * std::abs(ref[j])) && bad++ < 8)
      ADD_FAILURE() << what << "[" << j << "]: got " << got[j] << ", ref " << ref[j];
}
bool any_nonzero(const Vec& v) {
  for (double x : v)
    if (x != 0) return true;
  return false;
}
Vec scaled(const Vec& v, double f) {
  Vec r(v);
  for (auto& x : r) x *= f;
  return r;
}

// ---- references ----
double ref_ce(const Vec& z, const std::vector<int64_t>& y, const Vec* w, int64_t C, int64_t ignore, double eps) {
  double num = 0, den = 0;
  const int64_t N = int64_t(y.size());
  for (int64_t i = 0; i < N; ++i) {
    if (y[i] == ignore) continue;
    Vec lp = log_softmax(&z[i * C], C);
    auto wk = [&](int64_t k) { return w ? (*w)[size_t(k)] : 1.0; };
    double smooth = 0;
    for (int64_t k = 0; k < C; ++k) smooth += wk(k) * -lp[size_t(k)];
    num += (1 - eps) * wk(y[i]) * -lp[size_t(y[i])] + eps / double(C) * smooth;
    den += wk(y[i]);
  }
  return den == 0 ? 0 : num / den;
}
double ref_nl(const Vec& z, const std::vector<int64_t>& y, int64_t C, int64_t ignore) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == ignore) continue;
    Vec lp = log_softmax(&z[i * C], C);
    num += -std::log(1 - std::exp(lp[size_t(y[i])]));
    den += 1;
  }
  return den == 0 ? 0 : num / den;
}

}  // namespace

TEST(CrossEntropyKernel, MatchesReferenceWithWeightsSmoothingAndIgnore) {
  const int64_t N = 7, C = 5, ignore = -1;
  Vec z = randn(N * C, 1, 2.0), w = {0.5, 1.0, 2.0, 0.25, 1.5};
  std::vector<int64_t> y = {0, 4, -1, 2, 3, -1, 1};
  for (const Vec* wp : {static_cast<const Vec*>(nullptr), static_cast<const Vec*>(&w)})
    for (double eps : {0.0, 0.1}) {
      Vec dz(size_t(N * C));
      double acc[2];
      cross_entropy_cpu<double>(z.data(), y.data(), wp ? wp->data() : nullptr, N, C, ignore, eps, dz.data(), acc);
      const double ref = ref_ce(z, y, wp, C, ignore, eps);
      EXPECT_NEAR(acc[0] / acc[1], ref, 1e-12 + 1e-12 * std::abs(ref));
      EXPECT_GT(ref, 0.1);
      Vec fd = fd_grad([&](const Vec& x) { return ref_ce(x, y, wp, C, ignore, eps); }, z);
      ASSERT_TRUE(any_nonzero(fd));
      expect_close(scaled(dz, 1.0 / acc[1]), fd, 1e-8, 1e-6, "dz");
      for (int64_t k = 0; k < C; ++k) EXPECT_EQ(dz[size_t(2 * C + k)], 0.0) << "ignored row gradient";
    }
}

TEST(CrossEntropyKernel, FloatTwinAgreesWithDouble) {
  const int64_t N = 33, C = 20;
  Vec z = randn(N * C, 2, 3.0);
  std::vector<int64_t> y(N);
  for (int64_t i = 0; i < N; ++i) y[size_t(i)] = (i * 7) % C;
  std::vector<float> zf(z.begin(), z.end()), dzf(z.size());
  double acc[2];
  cross_entropy_cpu<float>(zf.data(), y.data(), nullptr, N, C, -1, 0.0, dzf.data(), acc);
  EXPECT_NEAR(acc[0] / acc[1], ref_ce(z, y, nullptr, C, -1, 0.0), 1e-5);
}

TEST(CrossEntropyKernel, AllIgnoredEmptyAndSingleClassAreFiniteWithZeroGradient) {
  const int64_t N = 4, C = 3;
  Vec z = randn(N * C, 3), dz(size_t(N * C), 7.0);
  std::vector<int64_t> y(N, -100);
  double acc[2];
  cross_entropy_cpu<double>(z.data(), y.data(), nullptr, N, C, -100, 0.1, dz.data(), acc);
  EXPECT_EQ(acc[0], 0.0);
  EXPECT_EQ(acc[1], 0.0);
  for (double v : dz) EXPECT_EQ(v, 0.0);
  double loss = 1.0;
  loss_finalize_cpu<double>(acc, 0, 1, 1.0, &loss);
  EXPECT_EQ(loss, 0.0);
  Vec out(dz.size(), 3.0);
  const double g = 1.0;
  loss_grad_scale_cpu<double>(dz.data(), N * C, &g, acc, 1, 1.0, out.data());
  for (double v : out) EXPECT_EQ(v, 0.0);
  // N = 0
  cross_entropy_cpu<double>(nullptr, nullptr, nullptr, 0, C, -1, 0.0, nullptr, acc);
  EXPECT_EQ(acc[1], 0.0);
  // C = 1: log softmax ≡ 0, loss 0 and gradient 0 (with smoothing too)
  Vec z1 = {3.0, -2.0}, d1(2, 9.0);
  std::vector<int64_t> y1 = {0, 0};
  cross_entropy_cpu<double>(z1.data(), y1.data(), nullptr, 2, 1, -1, 0.2, d1.data(), acc);
  EXPECT_EQ(acc[0], 0.0);
  EXPECT_EQ(acc[1], 2.0);
  EXPECT_EQ(d1, (Vec{0.0, 0.0}));
  // bad label: clear error
  std::vector<int64_t> bad = {0, 5, 1, 1};
  EXPECT_THROW(cross_entropy_cpu<double>(z.data(), bad.data(), nullptr, N, C, -1, 0.0, nullptr, acc),
               std::invalid_argument);
}

TEST(CrossEntropyKernel, HugeLogitsStayFinite) {
  const int64_t C = 4;
  std::vector<float> z = {1e4f, -1e4f, 0.f, 5.f, -1e4f, 1e4f, 1e4f, -1e4f};
  std::vector<int64_t> y = {1, 0};
  std::vector<float> dz(8);
  double acc[2];
  cross_entropy_cpu<float>(z.data(), y.data(), nullptr, 2, C, -1, 0.0, dz.data(), acc);
  // row 0: lse = 1e4, ℓ = 2e4; row 1: lse = 1e4 + log 2, ℓ = 2e4 + log 2
  EXPECT_NEAR(acc[0], 4e4 + std::log(2.0), 1e-2);
  for (float v : dz) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(dz[1], -1.0f, 1e-6);
  EXPECT_NEAR(dz[4], -1.0f, 1e-6);
  EXPECT_NEAR(dz[5], 0.5f, 1e-6);
}

TEST(SoftCrossEntropyKernel, ValueAndBothGradients) {
  const int64_t N = 5, C = 6;
  Vec z = randn(N * C, 4, 1.5), p = randn(N * C, 5);
  for (auto& v : p) v = std::abs(v);  // not normalised on purpose: the formula must hold for any p
  auto ref = [&](const Vec& zz, const Vec& pp) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) {
      Vec lp = log_softmax(&zz[i * C], C);
      for (int64_t k = 0; k < C; ++k) s -= pp[size_t(i * C + k)] * lp[size_t(k)];
    }
    return s / double(N);
  };
  Vec dz(z.size()), dp(z.size());
  double acc[2];
  soft_cross_entropy_cpu<double>(z.data(), p.data(), N, C, dz.data(), dp.data(), acc);
  EXPECT_NEAR(acc[0] / acc[1], ref(z, p), 1e-12);
  expect_close(scaled(dz, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(x, p); }, z), 1e-8, 1e-6, "dz");
  expect_close(scaled(dp, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(z, x); }, p), 1e-8, 1e-6, "dp");
}

TEST(EntropyKernel, ValueAndGradient) {
  const int64_t N = 4, C = 7;
  Vec z = randn(N * C, 6, 2.0);
  auto ref = [&](const Vec& zz) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) {
      Vec lp = log_softmax(&zz[i * C], C);
      for (int64_t k = 0; k < C; ++k) s -= std::exp(lp[size_t(k)]) * lp[size_t(k)];
    }
    return s / double(N);
  };
  Vec dz(z.size());
  double acc[2];
  entropy_cpu<double>(z.data(), N, C, dz.data(), acc);
  EXPECT_NEAR(acc[0] / acc[1], ref(z), 1e-12);
  expect_close(scaled(dz, 1.0 / acc[1]), fd_grad(ref, z), 1e-8, 1e-6, "dz");
  // huge logits: a one-hot distribution has entropy 0, finite gradient
  std::vector<float> zh = {1e4f, -1e4f, 0.f};
  std::vector<float> dh(3);
  entropy_cpu<float>(zh.data(), 1, 3, dh.data(), acc);
  EXPECT_NEAR(acc[0], 0.0, 1e-6);
  for (float v : dh) EXPECT_TRUE(std::isfinite(v));
}

TEST(KlDivKernel, ValueAndGradientsWithTemperature) {
  const int64_t N = 3, C = 5;
  Vec a = randn(N * C, 7, 2.0), b = randn(N * C, 8, 2.0);
  for (double t : {1.0, 2.5}) {
    auto ref = [&](const Vec& za, const Vec& zb) {
      double s = 0;
      for (int64_t i = 0; i < N; ++i) {
        Vec ra(static_cast<size_t>(C)), rb(static_cast<size_t>(C));
        for (int64_t k = 0; k < C; ++k) ra[size_t(k)] = za[size_t(i * C + k)] / t, rb[size_t(k)] = zb[size_t(i * C + k)] / t;
        Vec la = log_softmax(ra.data(), C), lb = log_softmax(rb.data(), C);
        for (int64_t k = 0; k < C; ++k) s += std::exp(la[size_t(k)]) * (la[size_t(k)] - lb[size_t(k)]);
      }
      return s * t * t / double(N);  // CLIP2Scene DistillKL: sum · T² / N
    };
    Vec da(a.size()), db(a.size());
    double acc[2];
    kl_div_cpu<double>(a.data(), b.data(), N, C, t, da.data(), db.data(), acc);
    EXPECT_NEAR(acc[0] / acc[1], ref(a, b), 1e-12);
    EXPECT_GT(acc[0], 0.0);
    expect_close(scaled(da, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(x, b); }, a), 1e-8, 1e-6, "dzp");
    expect_close(scaled(db, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(a, x); }, b), 1e-8, 1e-6, "dzq");
  }
  // identical inputs: KL = 0, zero gradients
  Vec d1(a.size()), d2(a.size());
  double acc[2];
  kl_div_cpu<double>(a.data(), a.data(), N, C, 1.0, d1.data(), d2.data(), acc);
  EXPECT_NEAR(acc[0], 0.0, 1e-12);
  EXPECT_THROW(kl_div_cpu<double>(a.data(), b.data(), N, C, 0.0, nullptr, nullptr, acc), std::invalid_argument);
}

TEST(NegativeLearningKernel, ValueGradientAndStability) {
  const int64_t N = 6, C = 4;
  Vec z = randn(N * C, 9, 1.5);
  std::vector<int64_t> y = {0, 3, -1, 2, 1, 1};
  Vec dz(z.size());
  double acc[2];
  negative_learning_cpu<double>(z.data(), y.data(), N, C, -1, dz.data(), acc);
  EXPECT_NEAR(acc[0] / acc[1], ref_nl(z, y, C, -1), 1e-12);
  EXPECT_EQ(acc[1], 5.0);
  expect_close(scaled(dz, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref_nl(x, y, C, -1); }, z), 1e-8, 1e-6,
               "dz");
  // q_y → 1: the naive 1 - p form gives inf; the log-sum-exp form gives z_y - lse_{k≠y} exactly.
  std::vector<float> zh = {1e4f, 0.f, 0.f, -1e4f, 30.f, 1e4f};
  std::vector<int64_t> yh = {0, 1};
  std::vector<float> dh(6);
  negative_learning_cpu<float>(zh.data(), yh.data(), 2, 3, -1, dh.data(), acc);
  EXPECT_NEAR(acc[0], (1e4 - std::log(2.0)) + 0.0, 1e-2);  // row 1: q_y = e^{30-1e4} ≈ 0 → ℓ ≈ 0
  for (float v : dh) EXPECT_TRUE(std::isfinite(v));
  EXPECT_THROW(negative_learning_cpu<double>(z.data(), y.data(), N, 1, -1, nullptr, acc), std::invalid_argument);
  std::vector<int64_t> all_ignored(N, -1);
  negative_learning_cpu<double>(z.data(), all_ignored.data(), N, C, -1, dz.data(), acc);
  EXPECT_EQ(acc[1], 0.0);
  for (double v : dz) EXPECT_EQ(v, 0.0);
}

TEST(ConfidenceSplitKernel, MasksPseudoLabelsAndBothLosses) {
  const int64_t N = 6, C = 3;
  Vec z = randn(N * C, 10, 1.0);
  // teacher rows: confident, unsure, tie (argmax → first), confident, unsure, confident
  Vec t = {5, 0, 0, 0.1, 0.2, 0.0, 1, 1, -3, -2, 6, 0, 0, 0, 0.3, 0, 0, 9};
  std::vector<uint8_t> rel(N);
  std::vector<int64_t> pseudo(N);
  Vec dz(z.size());
  double acc[4];
  const double tau = 0.7;
  confidence_split_cpu<double>(z.data(), t.data(), N, C, tau, rel.data(), pseudo.data(), dz.data(), acc);
  EXPECT_EQ(pseudo, (std::vector<int64_t>{0, 1, 0, 1, 2, 2}));
  EXPECT_EQ(rel, (std::vector<uint8_t>{1, 0, 0, 1, 0, 1}));
  std::vector<int64_t> y_ce(N, -1), y_nl(N, -1);
  for (int64_t i = 0; i < N; ++i) (rel[size_t(i)] ? y_ce : y_nl)[size_t(i)] = pseudo[size_t(i)];
  EXPECT_NEAR(acc[0] / acc[1], ref_ce(z, y_ce, nullptr, C, -1, 0.0), 1e-12);
  EXPECT_NEAR(acc[2] / acc[3], ref_nl(z, y_nl, C, -1), 1e-12);
  EXPECT_EQ(acc[1], 3.0);
  EXPECT_EQ(acc[3], 3.0);
  // backward with incoming grads g_ce, g_nl equals the sum of the two reference gradients
  const double gce = 0.75, gnl = -1.25;
  Vec out(z.size());
  confidence_split_grad_cpu<double>(dz.data(), rel.data(), N, C, &gce, &gnl, acc, out.data());
  Vec fd = fd_grad([&](const Vec& x) { return gce * ref_ce(x, y_ce, nullptr, C, -1, 0.0) + gnl * ref_nl(x, y_nl, C, -1); }, z);
  expect_close(out, fd, 1e-8, 1e-6, "dz");
}

TEST(CosineEmbeddingKernel, ValueAndGradients) {
  const int64_t N = 4, D = 9;
  Vec a = randn(N * D, 11), b = randn(N * D, 12);
  auto ref = [&](const Vec& x, const Vec& y) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) {
      double ab = 0, aa = 0, bb = 0;
      for (int64_t k = 0; k < D; ++k)
        ab += x[size_t(i * D + k)] * y[size_t(i * D + k)], aa += x[size_t(i * D + k)] * x[size_t(i * D + k)],
            bb += y[size_t(i * D + k)] * y[size_t(i * D + k)];
      s += 1 - ab / std::sqrt((aa + 1e-12) * (bb + 1e-12));
    }
    return s / double(N);
  };
  Vec da(a.size()), db(a.size());
  double acc[2];
  cosine_embedding_cpu<double>(a.data(), b.data(), N, D, da.data(), db.data(), acc);
  EXPECT_NEAR(acc[0] / acc[1], ref(a, b), 1e-12);
  expect_close(scaled(da, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(x, b); }, a), 1e-8, 1e-6, "da");
  expect_close(scaled(db, 1.0 / acc[1]), fd_grad([&](const Vec& x) { return ref(a, x); }, b), 1e-8, 1e-6, "db");
  // zero vector: finite (ε keeps the norm positive)
  Vec zero(static_cast<size_t>(D), 0.0), dz0(static_cast<size_t>(D));
  cosine_embedding_cpu<double>(zero.data(), b.data(), 1, D, dz0.data(), nullptr, acc);
  EXPECT_TRUE(std::isfinite(acc[0]));
  for (double v : dz0) EXPECT_TRUE(std::isfinite(v));
}

TEST(MseKernel, ValueAndGradientDyadic) {
  Vec a = {0.5, -1.25, 3.0, 0.0, 2.0}, b = {1.0, 0.75, 3.0, -0.5, -2.0};
  Vec da(5);
  double acc[2];
  mse_cpu<double>(a.data(), b.data(), 5, da.data(), acc);
  EXPECT_EQ(acc[0], 0.25 + 4.0 + 0.0 + 0.25 + 16.0);
  EXPECT_EQ(acc[1], 5.0);
  EXPECT_EQ(da, (Vec{-1.0, -4.0, 0.0, 1.0, 8.0}));
}

TEST(LossKernels, SoftTargetsAndKlStayFiniteAtHugeLogits) {
  // p = one-hot on a class whose logit is -1e4 below the max: -log q = 2e4 exactly, finite gradients.
  std::vector<float> z = {1e4f, -1e4f, 0.f}, p = {0.f, 1.f, 0.f}, dz(3), dp(3);
  double acc[2];
  soft_cross_entropy_cpu<float>(z.data(), p.data(), 1, 3, dz.data(), dp.data(), acc);
  EXPECT_NEAR(acc[0], 2e4, 1e-2);
  for (float v : dz) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(dp[1], 2e4f, 1e-2);
  // KL between two opposite one-hot-like rows: E_p[a - b] - lse_a + lse_b = 2e4 + 0 - 0 (T = 1)
  std::vector<float> a = {1e4f, -1e4f}, b = {-1e4f, 1e4f}, da(2), db(2);
  kl_div_cpu<float>(a.data(), b.data(), 1, 2, 1.0, da.data(), db.data(), acc);
  EXPECT_NEAR(acc[0], 2e4, 1e-2);
  for (float v : da) EXPECT_TRUE(std::isfinite(v));
  for (float v : db) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(db[0], -1.f, 1e-6);  // q - p
  EXPECT_NEAR(db[1], 1.f, 1e-6);
}

TEST(LossKernels, MaskedMinusInfinityLogitsGiveNoNaN) {
  // A masked class (-inf logit) first in the row: probability 0, gradient 0 on it, finite loss.
  std::vector<double> z = {-INFINITY, 1.0, 2.0};
  std::vector<int64_t> y = {2};
  std::vector<double> dz(3);
  double acc[2];
  cross_entropy_cpu<double>(z.data(), y.data(), nullptr, 1, 3, -1, 0.0, dz.data(), acc);
  EXPECT_NEAR(acc[0], std::log(1.0 + std::exp(-1.0)), 1e-15);
  EXPECT_EQ(dz[0], 0.0);
  for (double v : dz) EXPECT_FALSE(std::isnan(v));
}
