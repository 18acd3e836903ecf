// SPDX-License-Identifier: Apache-2.0
// The fixed-order reduction of the losses' accumulators in deterministic mode (kernels/losses/loss_reduce_math.h):
// the grid cap, and the summation order that the device's pass 2 follows (replayed by fixed_order_sum_host, which
// the GPU test compares the device result with bit for bit).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/losses/loss_reduce_math.h"
#include "kernels/losses/losses.h"
#include "kernels/losses/losses_math.h"

using namespace leseg::kernels;
using namespace leseg::kernels::losses;

TEST(LossReduce, GridIsCappedAtThePartialsSlots) {
  EXPECT_EQ(det_grid(1), 1);
  EXPECT_EQ(det_grid(kDetBlocks), kDetBlocks);
  EXPECT_EQ(det_grid(int64_t(1) << 16), kDetBlocks);
  EXPECT_EQ(kLossPartials, 4 * int64_t(kDetBlocks));  // 4 accumulator slots (confidence_split) of kDetBlocks each
}

TEST(LossReduce, StridedPartialsCoverEveryBlockOnce) {
  // Integer values: any order gives the exact sum; every partial must be counted once.
  for (int64_t n : std::vector<int64_t>{0, 1, 255, 256, 257, 1000, kDetBlocks}) {
    std::vector<double> v(static_cast<size_t>(n));
    double exact = 0;
    for (int64_t b = 0; b < n; ++b) exact += (v[size_t(b)] = double(b % 97) - 40.0);
    EXPECT_EQ(fixed_order_sum_host(v.data(), n), exact) << n;
  }
}

TEST(LossReduce, OrderIsTheStridedTreeNotSequential) {
  // Sequentially (1e16 + 1) - 1e16 = 0 (1e16 + 1 rounds to 1e16); the tree adds thread 0's 1e16 and thread 2's
  // -1e16 first (stride 2), then thread 1's 1: 1.
  const std::vector<double> v{1e16, 1.0, -1e16};
  EXPECT_EQ((v[0] + v[1]) + v[2], 0.0);
  EXPECT_EQ(fixed_order_sum_host(v.data(), 3), 1.0);
  // Thread t's strided share: partials t and t + 256.
  std::vector<double> w(300, 0.0);
  w[4] = 1e16, w[260] = 1.0;
  EXPECT_EQ(strided_partial(w.data(), 300, 4), 1e16 + 1.0);
  EXPECT_EQ(strided_partial(w.data(), 300, 5), 0.0);
}

TEST(LossReduce, RepeatsAreBitIdentical) {
  std::mt19937 r(3);
  std::normal_distribution<double> nd(0, 1);
  std::vector<double> v(kDetBlocks);
  for (auto& x : v) x = nd(r) * 1e3;
  const double a = fixed_order_sum_host(v.data(), kDetBlocks), b = fixed_order_sum_host(v.data(), kDetBlocks);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
}

// The CUDA rows' negative-learning term in f32 (losses_cuda.cu: nl_row): -log(1 - q_y) as softplus(z_y - lse_rest)
// keeps f32's relative accuracy at every width, where lse - lse_rest, the difference of two ~12s that is ~1/C,
// loses its digits (a relative error near 1e-4 on the kernel's sums at C = 1000-4096, above the GPU parity tests' 1e-5;
// up to 100 % on single rows whose term is tiny).
TEST(LossMath, NegativeLearningTermKeepsItsAccuracyInF32) {
  using namespace leseg::kernels::losses;
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0.0, 3.0);
  for (int C : {20, 1000, 4096}) {
    double worst_softplus = 0, worst_diff = 0, sum_ref = 0, sum_sp = 0;
    for (int row = 0; row < 64; ++row) {
      std::vector<float> z(static_cast<size_t>(C));
      for (float& v : z) v = float(nd(rng));
      const int y = row % C;
      RowStats<float> all = stats_empty<float>(), rest = stats_empty<float>();
      RowStats<double> all_d = stats_empty<double>(), rest_d = stats_empty<double>();
      for (int k = 0; k < C; ++k) {
        stats_push(all, z[size_t(k)], 0.f), stats_push(all_d, double(z[size_t(k)]), 0.0);
        if (k != y) stats_push(rest, z[size_t(k)], 0.f), stats_push(rest_d, double(z[size_t(k)]), 0.0);
      }
      const double ref = stats_lse(all_d) - stats_lse(rest_d);  // the CPU twin's double arithmetic
      const float lse = stats_lse(all), lse_r = stats_lse(rest);
      const double sp = double(softplus(float(z[size_t(y)] - lse_r))), diff = double(lse - lse_r);
      worst_softplus = std::max(worst_softplus, std::abs(sp - ref) / ref);
      worst_diff = std::max(worst_diff, std::abs(diff - ref) / ref);
      sum_ref += ref, sum_sp += sp;
    }
    std::printf("C = %4d: worst relative error per row, softplus %.2e, lse - lse_rest %.2e\n", C, worst_softplus,
                worst_diff);
    // Row statistics summed sequentially here (the kernel's warp tree is more accurate); the GPU parity tests
    // allow 1e-5 on the summed accumulator.
    EXPECT_LT(worst_softplus, 1e-5) << "C = " << C;
    EXPECT_LT(std::abs(sum_sp - sum_ref) / sum_ref, 1e-5) << "C = " << C;
  }
  // softplus itself: exact enough across its range, no overflow, the limits.
  for (double d : {-100.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 100.0, 1e4})
    EXPECT_NEAR(softplus(d), d > 30 ? d : std::log1p(std::exp(d)), 1e-15 * std::max(1.0, std::abs(d))) << d;
  EXPECT_EQ(softplus(float(-INFINITY)), 0.f);
  EXPECT_EQ(softplus(float(INFINITY)), float(INFINITY));
  EXPECT_EQ(softplus(1e4f), 1e4f);
}
