// SPDX-License-Identifier: Apache-2.0
// CUDA batch_norm vs the CPU twin at sizes that use many reduction splits: (N, C) point features and
// (N, C, L) planes, train and eval, forward, running buffers and all gradients (f32 and f64).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/nn_functional.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
void expect_close(const Tensor& got, const Tensor& ref, double atol, double rtol, const char* what) {
  auto a = got.to_vector<double>(), b = ref.to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < a.size(); ++i) {
    nonzero |= b[i] != 0;
    if (!(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i])) && bad++ < 5)
      ADD_FAILURE() << what << " el " << i << ": " << a[i] << " vs " << b[i];
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(nonzero) << what;
}
}  // namespace

TEST(BatchNormGpu, MatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  for (DType dt : {DType::f32, DType::f64})
    for (Shape s : {Shape{100003, 37}, Shape{5, 7, 3001}})
      for (bool training : {true, false}) {
        Generator g(3);
        const int64_t C = s[1];
        Tensor x = randn(s, g, dt), w = uniform(Shape{C}, 0.5, 1.5, g, dt), b = randn(Shape{C}, g, dt);
        Tensor rm = randn(Shape{C}, g, dt), rv = uniform(Shape{C}, 0.5, 2, g, dt);
        Tensor rmg = rm.to(cu), rvg = rv.to(cu);
        Tensor xg = x.to(cu), wg = w.to(cu), bg = b.to(cu);
        for (Tensor* t : {&x, &w, &b, &xg, &wg, &bg}) t->requires_grad_();
        Tensor y = batch_norm(x, rm, rv, w, b, training), yg = batch_norm(xg, rmg, rvg, wg, bg, training);
        const double tol = dt == DType::f32 ? 1e-4 : 1e-10;
        expect_close(yg, y, tol, tol, "y");
        expect_close(rmg, rm, tol, tol, "running_mean");
        expect_close(rvg, rv, tol, tol, "running_var");
        Tensor gy = randn(s, g, dt);
        y.backward(gy);
        yg.backward(gy.to(cu));
        expect_close(xg.grad(), x.grad(), tol, tol, "dx");
        expect_close(wg.grad(), w.grad(), tol * 10, tol, "dw");  // sums over 1e5 elements
        expect_close(bg.grad(), b.grad(), tol * 10, tol, "db");
      }
}
