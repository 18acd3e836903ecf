// SPDX-License-Identifier: Apache-2.0
// CUDA (cuBLAS) matmul vs the CPU twin: transpose flags, batch broadcast, summed batches; linear, and
// TF32 staying off unless asked. Integer-valued inputs: results must be exact.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/linalg.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
Tensor ints(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor u = uniform(s, -4, 4, g, DType::f64);
  std::vector<double> v = u.to_vector<double>();
  for (double& x : v) x = double(int64_t(x));
  return Tensor::from_vector(v, s).to(DType::f32);
}
void expect_same(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  ASSERT_EQ(x.size(), y.size());
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i] && bad++ < 5) ADD_FAILURE() << "el " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(bad, 0);
}
}  // namespace

TEST(MatmulGpu, MatchesCpuExactly) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  struct C { Shape a, b; bool ta, tb; };
  for (const C& c : {C{{65, 33}, {33, 7}, false, false}, C{{33, 65}, {7, 33}, true, true}, C{{3, 7, 33}, {33, 5}, false, false},
                     C{{7, 33}, {3, 5, 33}, false, true}, C{{2, 33, 7}, {2, 33, 5}, true, false}}) {
    Tensor a = ints(c.a, 1), b = ints(c.b, 2);
    Tensor ag = a.to(cu), bg = b.to(cu);
    a.requires_grad_(), b.requires_grad_(), ag.requires_grad_(), bg.requires_grad_();
    Tensor y = matmul(a, b, c.ta, c.tb), yg = matmul(ag, bg, c.ta, c.tb);
    expect_same(yg, y);
    Tensor g = ints(y.shape(), 3);
    y.backward(g);
    yg.backward(g.to(cu));
    expect_same(ag.grad(), a.grad());
    expect_same(bg.grad(), b.grad());
  }
  Tensor x = ints({37, 19}, 4), w = ints({11, 19}, 5), bias = ints({11}, 6);
  expect_same(linear(x.to(cu), w.to(cu), bias.to(cu)), linear(x, w, bias));
}
