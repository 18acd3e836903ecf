// SPDX-License-Identifier: Apache-2.0
// CUDA layer_norm vs the CPU twin: many rows (column-sum splits for dw/db), widths below and above a warp.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/nn_functional.h"
#include "engine/rng.h"

using namespace leseg;

TEST(LayerNormGpu, MatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  for (Shape s : {Shape{20011, 13}, Shape{77, 385}}) {
    Generator g(5);
    const int64_t D = s[1];
    Tensor x = randn(s, g), w = randn(Shape{D}, g), b = randn(Shape{D}, g);
    Tensor xg = x.to(cu), wg = w.to(cu), bg = b.to(cu);
    for (Tensor* t : {&x, &w, &b, &xg, &wg, &bg}) t->requires_grad_();
    Tensor y = layer_norm(x, w, b), yg = layer_norm(xg, wg, bg);
    Tensor gy = randn(s, g);
    y.backward(gy);
    yg.backward(gy.to(cu));
    struct P { Tensor got, ref; double atol; const char* what; };
    for (const P& p : {P{yg, y, 1e-5, "y"}, P{xg.grad(), x.grad(), 1e-4, "dx"}, P{wg.grad(), w.grad(), 1e-3, "dw"},
                       P{bg.grad(), b.grad(), 1e-3, "db"}}) {
      auto a = p.got.to_vector<float>(), r = p.ref.to_vector<float>();
      int bad = 0;
      for (size_t i = 0; i < a.size(); ++i)
        if (!(std::abs(a[i] - r[i]) <= p.atol + 1e-4 * std::abs(r[i])) && bad++ < 5)
          ADD_FAILURE() << p.what << " el " << i << ": " << a[i] << " vs " << r[i];
      EXPECT_EQ(bad, 0) << p.what;
    }
  }
}
