// SPDX-License-Identifier: Apache-2.0
// Runs every registered op case through the gradient check and the accumulation check (CPU, f64).
// The CPU-vs-CUDA parity half lives in harness_gpu_test.cpp (label gpu).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "tests/engine/ops/harness_common.h"

namespace leseg::testing {

class OpGrad : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpGrad, GradCheck) {
  const OpCase& c = GetParam();
  auto inputs = make_inputs(c, DType::f64, Device::cpu());
  auto outs = c.fn(inputs);
  ASSERT_FALSE(outs.empty());
  if (!c.allow_zero) ASSERT_TRUE(any_nonzero(outs)) << "outputs are all zero: the case cannot fail";
  if (!c.differentiable) return;
  auto weights = loss_weights(outs, DType::f64, Device::cpu());
  backward_weighted(outs, weights);
  auto analytic = input_grads(inputs);
  auto numeric = numeric_grads(c, inputs, weights);
  bool any_grad = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!analytic[i].defined() && !numeric[i].defined()) continue;
    ASSERT_TRUE(analytic[i].defined()) << "input " << i << " has no gradient";
    auto a = analytic[i].to_vector<double>();
    auto n = numeric[i].to_vector<double>();
    ASSERT_EQ(a.size(), n.size());
    int shown = 0, bad = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      any_grad |= a[j] != 0.0;
      if (!(std::abs(a[j] - n[j]) <= c.grad_atol + c.grad_rtol * std::abs(n[j]))) {
        ++bad;
        if (shown++ < 8)
          ADD_FAILURE() << c.op << "/" << c.name << " input " << i << " element " << j << ": autograd " << a[j]
                        << " vs finite difference " << n[j];
      }
    }
    EXPECT_EQ(bad, 0) << "of " << a.size() << " elements";
  }
  if (!c.allow_zero) EXPECT_TRUE(any_grad) << "all gradients are zero: the case cannot fail";
}

TEST_P(OpGrad, BackwardTwiceDoublesGradients) {
  const OpCase& c = GetParam();
  if (!c.differentiable) GTEST_SKIP() << c.op << " is not differentiable";
  auto inputs = make_inputs(c, DType::f64, Device::cpu());
  auto outs1 = c.fn(inputs);
  auto weights = loss_weights(outs1, DType::f64, Device::cpu());
  backward_weighted(outs1, weights);
  auto g1 = input_grads(inputs);
  auto outs2 = c.fn(inputs);
  backward_weighted(outs2, weights);
  auto g2 = input_grads(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!g1[i].defined()) continue;
    auto a = g1[i].to_vector<double>(), b = g2[i].to_vector<double>();
    for (size_t j = 0; j < a.size(); ++j)
      ASSERT_NEAR(b[j], 2 * a[j], 1e-12 * (1 + std::abs(a[j]))) << c.op << "/" << c.name << " input " << i << " el " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpGrad, ::testing::ValuesIn(op_cases()), case_name);

}  // namespace leseg::testing
