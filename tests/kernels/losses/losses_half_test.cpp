// SPDX-License-Identifier: Apache-2.0
// f16 / bf16 inputs of the fused loss CPU twins against the f32 twin run on the up-converted inputs.
// The half path reads each element through Convert (exact: every half is a float), computes exactly what
// the f32 path computes (double accumulation), and rounds once when it stores the gradient. So:
//   * the accumulators (loss numerator and divisor) are bitwise equal to the f32 path's;
//   * every half gradient equals the f32 gradient rounded to the half type (round-to-nearest-even), and
//     so lies within half an ulp of it: |g_h - g_f| <= 2^-11·|g_f| (f16, 10 mantissa bits) or
//     2^-8·|g_f| (bf16, 7), plus the f16 subnormal spacing 2^-24 below 2^-14.
// Also: the CUDA variant choice for a row width (host code).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/half_math.h"
#include "kernels/losses/losses.h"

using namespace leseg;
using namespace leseg::kernels;

namespace {

template <class H>
constexpr double half_rel() { return std::is_same_v<H, f16_t> ? 1.0 / 2048.0 : 1.0 / 256.0; }
template <class H>
constexpr double half_atol() { return std::is_same_v<H, f16_t> ? 1.0 / 16777216.0 : 0.0; }

// n values ~ N(0, sd), rounded to H; returned as H and as the exactly up-converted floats.
template <class H>
void make(size_t n, unsigned seed, double sd, std::vector<H>& h, std::vector<float>& f) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, sd);
  h.resize(n);
  f.resize(n);
  for (size_t i = 0; i < n; ++i) {
    h[i] = Convert<H, double>::apply(d(g));
    f[i] = Convert<float, H>::apply(h[i]);
  }
}

// got (H) vs ref (f32): bitwise equal to ref rounded to H, and within the half-ulp bound; ref non-trivial.
template <class H>
void expect_rounded(const std::vector<H>& got, const std::vector<float>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t j = 0; j < got.size(); ++j) {
    const double g = Convert<double, H>::apply(got[j]), r = ref[j];
    nonzero |= r != 0.0;
    const bool rounded = got[j].bits == Convert<H, float>::apply(ref[j]).bits;
    const bool near = std::abs(g - r) <= half_atol<H>() + half_rel<H>() * std::abs(r);
    if (!(rounded && near) && bad++ < 8)
      ADD_FAILURE() << what << "[" << j << "]: half " << g << ", f32 " << r << (rounded ? "" : " (not the rounding)");
  }
  EXPECT_TRUE(nonzero) << what << ": reference gradient is all zero";
}

void expect_same_acc(const double* a, const double* b, int n, const std::string& what) {
  for (int k = 0; k < n; ++k) EXPECT_EQ(a[k], b[k]) << what << " acc[" << k << "]";
  EXPECT_NE(a[0], 0.0) << what << ": zero loss";
}

template <class H>
class HalfLosses : public ::testing::Test {};
using HalfTypes = ::testing::Types<f16_t, bf16_t>;
TYPED_TEST_SUITE(HalfLosses, HalfTypes);

TYPED_TEST(HalfLosses, RowLossesEqualF32PathRoundedOnce) {
  using H = TypeParam;
  const int64_t N = 37, C = 13;  // primes; rows with ignore labels
  std::vector<H> zh, th, ph;
  std::vector<float> zf, tf, pf;
  make(size_t(N * C), 1, 3.0, zh, zf);
  make(size_t(N * C), 2, 3.0, th, tf);
  make(size_t(N * C), 3, 0.5, ph, pf);
  std::vector<int64_t> y(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) y[size_t(i)] = i % 5 == 2 ? -1 : (i * 7) % C;
  std::vector<float> w(static_cast<size_t>(C));
  for (int64_t k = 0; k < C; ++k) w[size_t(k)] = 0.5f + 0.125f * float(k);
  const size_t n = size_t(N * C);
  std::vector<H> dh(n), dh2(n);
  std::vector<float> df(n), df2(n);
  double ah[4], af[4];

  cross_entropy_cpu<H>(zh.data(), y.data(), w.data(), N, C, -1, 0.1, dh.data(), ah);
  cross_entropy_cpu<float>(zf.data(), y.data(), w.data(), N, C, -1, 0.1, df.data(), af);
  expect_same_acc(ah, af, 2, "cross_entropy");
  expect_rounded(dh, df, "cross_entropy dz");

  soft_cross_entropy_cpu<H>(zh.data(), ph.data(), N, C, dh.data(), dh2.data(), ah);
  soft_cross_entropy_cpu<float>(zf.data(), pf.data(), N, C, df.data(), df2.data(), af);
  expect_same_acc(ah, af, 2, "soft_cross_entropy");
  expect_rounded(dh, df, "soft_cross_entropy dz");
  expect_rounded(dh2, df2, "soft_cross_entropy dp");

  entropy_cpu<H>(zh.data(), N, C, dh.data(), ah);
  entropy_cpu<float>(zf.data(), N, C, df.data(), af);
  expect_same_acc(ah, af, 2, "entropy");
  expect_rounded(dh, df, "entropy dz");

  kl_div_cpu<H>(zh.data(), th.data(), N, C, 2.0, dh.data(), dh2.data(), ah);
  kl_div_cpu<float>(zf.data(), tf.data(), N, C, 2.0, df.data(), df2.data(), af);
  expect_same_acc(ah, af, 2, "kl_div");
  expect_rounded(dh, df, "kl_div dzp");
  expect_rounded(dh2, df2, "kl_div dzq");

  negative_learning_cpu<H>(zh.data(), y.data(), N, C, -1, dh.data(), ah);
  negative_learning_cpu<float>(zf.data(), y.data(), N, C, -1, df.data(), af);
  expect_same_acc(ah, af, 2, "negative_learning");
  expect_rounded(dh, df, "negative_learning dz");

  std::vector<uint8_t> rh(static_cast<size_t>(N)), rf(static_cast<size_t>(N));
  std::vector<int64_t> sh(static_cast<size_t>(N)), sf(static_cast<size_t>(N));
  confidence_split_cpu<H>(zh.data(), th.data(), N, C, 0.5, rh.data(), sh.data(), dh.data(), ah);
  confidence_split_cpu<float>(zf.data(), tf.data(), N, C, 0.5, rf.data(), sf.data(), df.data(), af);
  expect_same_acc(ah, af, 4, "confidence_split");
  EXPECT_EQ(rh, rf);
  EXPECT_EQ(sh, sf);
  EXPECT_GT(af[1], 0.0);  // both branches taken
  EXPECT_GT(af[3], 0.0);
  expect_rounded(dh, df, "confidence_split dz");
  // its backward: incoming f32 gradients, output in H
  const float gce = 0.75f, gnl = -1.25f;
  confidence_split_grad_cpu<H>(dh.data(), rh.data(), N, C, &gce, &gnl, ah, dh2.data());
  std::vector<float> up(n);
  for (size_t j = 0; j < n; ++j) up[j] = Convert<float, H>::apply(dh[j]);
  confidence_split_grad_cpu<float>(up.data(), rf.data(), N, C, &gce, &gnl, af, df2.data());
  expect_rounded(dh2, df2, "confidence_split_grad");

  cosine_embedding_cpu<H>(zh.data(), th.data(), N, C, dh.data(), dh2.data(), ah);
  cosine_embedding_cpu<float>(zf.data(), tf.data(), N, C, df.data(), df2.data(), af);
  expect_same_acc(ah, af, 2, "cosine_embedding");
  expect_rounded(dh, df, "cosine da");
  expect_rounded(dh2, df2, "cosine db");

  mse_cpu<H>(zh.data(), th.data(), int64_t(n), dh.data(), ah);
  mse_cpu<float>(zf.data(), tf.data(), int64_t(n), df.data(), af);
  expect_same_acc(ah, af, 2, "mse");
  expect_rounded(dh, df, "mse da");

  // loss_grad_scale: saved H gradient · (f32 incoming gradient) / divisor, stored as H
  const float g = 3.0f;
  loss_grad_scale_cpu<H>(dh.data(), int64_t(n), &g, ah, 1, 0.5, dh2.data());
  for (size_t j = 0; j < n; ++j) up[j] = Convert<float, H>::apply(dh[j]);
  loss_grad_scale_cpu<float>(up.data(), int64_t(n), &g, af, 1, 0.5, df2.data());
  expect_rounded(dh2, df2, "loss_grad_scale");
}

TYPED_TEST(HalfLosses, HugeLogitsAndAllIgnoredStayFinite) {
  using H = TypeParam;
  // logits of ±8192 (exact in both half types; f16 max 65504)
  std::vector<H> z;
  for (double v : {8192.0, -8192.0, 0.0, 5.0, -8192.0, 8192.0, 8192.0, -8192.0}) z.push_back(Convert<H, double>::apply(v));
  std::vector<int64_t> y = {1, 0};
  std::vector<H> dz(8);
  double acc[2];
  cross_entropy_cpu<H>(z.data(), y.data(), nullptr, 2, 4, -1, 0.0, dz.data(), acc);
  EXPECT_NEAR(acc[0], 32768.0 + std::log(2.0), 1e-2);  // row 0: 2·8192; row 1: 2·8192 + log 2
  for (const H& v : dz) EXPECT_TRUE(std::isfinite(Convert<float, H>::apply(v)));
  EXPECT_EQ((Convert<float, H>::apply(dz[1])), -1.0f);
  negative_learning_cpu<H>(z.data(), y.data(), 2, 4, -1, dz.data(), acc);
  EXPECT_TRUE(std::isfinite(acc[0]));
  for (const H& v : dz) EXPECT_TRUE(std::isfinite(Convert<float, H>::apply(v)));
  std::vector<int64_t> ign = {-1, -1};
  cross_entropy_cpu<H>(z.data(), ign.data(), nullptr, 2, 4, -1, 0.1, dz.data(), acc);
  EXPECT_EQ(acc[0], 0.0);
  EXPECT_EQ(acc[1], 0.0);
  for (const H& v : dz) EXPECT_EQ(v.bits, 0) << "ignored rows get +0 gradients";
}

TEST(LossVariant, WidthThresholdPicksBlockPerRowForWideRows) {
  EXPECT_EQ(loss_variant_for(1), LossVariant::WarpPerRow);
  EXPECT_EQ(loss_variant_for(20), LossVariant::WarpPerRow);
  EXPECT_EQ(loss_variant_for(512), LossVariant::WarpPerRow);
  EXPECT_EQ(loss_variant_for(kLossWarpMaxC), LossVariant::WarpPerRow);
  EXPECT_EQ(loss_variant_for(kLossWarpMaxC + 1), LossVariant::BlockPerRow);
  EXPECT_EQ(loss_variant_for(4096), LossVariant::BlockPerRow);
  // an explicit request wins either way
  EXPECT_EQ(loss_variant_for(4096, LossVariant::WarpPerRow), LossVariant::WarpPerRow);
  EXPECT_EQ(loss_variant_for(20, LossVariant::BlockPerRow), LossVariant::BlockPerRow);
}

}  // namespace
