// SPDX-License-Identifier: Apache-2.0
// The spiral example's training routine (examples/spiral.h) reaches >= 97% training accuracy on CPU,
// and the same seed gives the same result.
#include <gtest/gtest.h>

#include "examples/spiral.h"

using namespace leseg;

TEST(Spiral, TrainsToAtLeast97PercentOnCpu) {
  examples::SpiralConfig c;
  examples::SpiralResult r = examples::train_spiral(c);
  EXPECT_GE(r.train_accuracy, 0.97) << "final loss " << r.final_loss;
  EXPECT_LT(r.final_loss, 0.2);
}

TEST(Spiral, DataIsSeededAndBalanced) {
  examples::SpiralConfig c;
  Generator g1(7, 1), g2(7, 1);
  auto a = examples::make_spiral(c, g1), b = examples::make_spiral(c, g2);
  EXPECT_EQ(a.x.to_vector<float>(), b.x.to_vector<float>());
  auto y = a.y.to_vector<int64_t>();
  ASSERT_EQ(y.size(), 1000u);
  int64_t ones = 0;
  for (auto v : y) ones += v;
  EXPECT_EQ(ones, 500);
}
