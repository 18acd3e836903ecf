// SPDX-License-Identifier: Apache-2.0
// dropout: kept values are exactly x / (1 − p), the dropped fraction is near p, the same generator state
// gives the same mask (and the generator advances), eval and p = 0 are the identity, p outside [0, 1] throws.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/nn_functional.h"
#include "kernels/dropout/dropout.h"

using namespace leseg;

TEST(DropoutCpu, ApplyKernelScalesKeptZeroesDropped) {
  std::vector<float> x{1, 2, 3, 4}, out(4);
  std::vector<uint8_t> mask{1, 0, 1, 0};
  kernels::dropout_apply_cpu(x.data(), mask.data(), out.data(), 4, 2.f);
  EXPECT_EQ(out, (std::vector<float>{2, 0, 6, 0}));
}

TEST(DropoutOp, StatisticsDeterminismAndModes) {
  const int64_t n = 100000;
  Tensor x = Tensor::ones(Shape{n});
  Generator g(123);
  Tensor y = dropout(x, 0.25, true, g);
  EXPECT_EQ(g.offset(), uint64_t(n));
  auto v = y.to_vector<float>();
  int64_t zeros = 0;
  for (float e : v) {
    if (e == 0.f) ++zeros;
    else ASSERT_FLOAT_EQ(e, 1.f / 0.75f);
  }
  EXPECT_NEAR(double(zeros) / double(n), 0.25, 0.01);
  Generator g2(123);
  EXPECT_EQ(dropout(x, 0.25, true, g2).to_vector<float>(), v);
  Tensor xr = Tensor::ones(Shape{8}).requires_grad_();
  Generator g3(5);
  Tensor yr = dropout(xr, 0.5, true, g3);
  yr.backward(Tensor::ones(Shape{8}));
  EXPECT_EQ(xr.grad().to_vector<float>(), yr.to_vector<float>());  // same mask, same scale
  EXPECT_TRUE(dropout(x, 0.5, false, g).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, g).same(x));
  for (float e : dropout(x, 1.0, true, g).to_vector<float>()) ASSERT_EQ(e, 0.f);
  EXPECT_THROW(dropout(x, 1.5, true, g), Error);
  EXPECT_THROW(dropout(x, -0.1, true, g), Error);
}
