// SPDX-License-Identifier: Apache-2.0
// CUDA softmax / log_softmax vs the CPU twin: warp-per-row path (last dim, lengths 1, 20, 1001) and the
// strided path (middle dim), rows holding ±1e4, forward and backward.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/nn_functional.h"
#include "engine/rng.h"

using namespace leseg;

TEST(SoftmaxGpu, MatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  struct C { Shape s; int dim; };
  for (bool log : {false, true})
    for (const C& c : {C{{513, 1}, -1}, C{{1999, 20}, -1}, C{{7, 1001}, -1}, C{{6, 33, 17}, 1}}) {
      Generator g(9);
      Tensor x = randn(c.s, g);
      auto xv = x.to_vector<float>();
      xv[0] = 1e4f;
      if (xv.size() > 3) xv[3] = -1e4f;
      x = Tensor::from_vector(xv, c.s);
      Tensor xg = x.to(cu);
      x.requires_grad_(), xg.requires_grad_();
      Tensor y = log ? log_softmax(x, c.dim) : softmax(x, c.dim);
      Tensor yg = log ? log_softmax(xg, c.dim) : softmax(xg, c.dim);
      Tensor gy = randn(c.s, g);
      y.backward(gy);
      yg.backward(gy.to(cu));
      for (auto [got, ref] : {std::pair{yg, y}, std::pair{xg.grad(), x.grad()}}) {
        auto a = got.to_vector<float>(), r = ref.to_vector<float>();
        int bad = 0;
        for (size_t i = 0; i < a.size(); ++i)
          if (!(std::abs(a[i] - r[i]) <= 1e-5 + 1e-4 * std::abs(r[i])) && bad++ < 5)
            ADD_FAILURE() << "log " << log << " el " << i << ": " << a[i] << " vs " << r[i];
        EXPECT_EQ(bad, 0);
      }
    }
}
