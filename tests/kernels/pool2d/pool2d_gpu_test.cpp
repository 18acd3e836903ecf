// SPDX-License-Identifier: Apache-2.0
// CUDA pooling vs the CPU twin at ResNet / ASPP sizes (many blocks): max (values, argmax routing), avg
// (both padding modes), adaptive avg (global and 3×5), forward and backward, f32 and f64. The gathers use
// the same double-accumulated formulas on both devices, so the tolerance is a few ulp.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;

TEST(Pool2dGpu, MatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (DType dt : {DType::f32, DType::f64})
    for (int op = 0; op < 5; ++op) {
      Generator g(8);
      Tensor x = randn(Shape{2, 64, 61, 83}, g, dt);
      auto apply = [op](const Tensor& t) {
        switch (op) {
          case 0: return max_pool2d(t, 3, 2, 1);
          case 1: return avg_pool2d(t, 3, 2, 1, true);
          case 2: return avg_pool2d(t, 3, 2, 1, false);
          case 3: return adaptive_avg_pool2d(t, 1);
          default: return adaptive_avg_pool2d(t, Size2(3, 5));
        }
      };
      Tensor xc = x.clone().requires_grad_(), xg = x.to(Device::cuda()).requires_grad_();
      Tensor yc = apply(xc), yg = apply(xg);
      Tensor gy = randn(yc.shape(), g, dt);
      yc.backward(gy);
      yg.backward(gy.to(Device::cuda()));
      const double tol = dt == DType::f32 ? 1e-6 : 1e-13;
      const std::string tag = "op " + std::to_string(op) + " " + dtype_name(dt);
      leseg::testing::expect_close(yg.to_vector<double>(), yc.to_vector<double>(), tol, tol, tag + " y");
      leseg::testing::expect_close(xg.grad().to_vector<double>(), xc.grad().to_vector<double>(), tol, tol, tag + " dx");
    }
}
