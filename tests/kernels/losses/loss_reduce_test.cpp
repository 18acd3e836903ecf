// SPDX-License-Identifier: Apache-2.0
// The fixed-order reduction of the losses' accumulators in deterministic mode (kernels/losses/loss_reduce_math.h):
// the grid cap, and the summation order that the device's pass 2 follows (replayed by fixed_order_sum_host, which
// the GPU test compares the device result with bit for bit).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/losses/loss_reduce_math.h"
#include "kernels/losses/losses.h"

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
