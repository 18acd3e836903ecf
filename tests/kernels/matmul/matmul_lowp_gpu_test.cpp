// SPDX-License-Identifier: Apache-2.0
// Half GEMM on CUDA (cuBLAS, bf16/f16 operands, f32 accumulation) vs its CPU twin, through the engine's autocast:
// matmul, linear and their gradients under train.precision bf16 / f16. Integer-valued inputs make every f32
// accumulation exact in any order, so the one rounding at the store gives identical bits on both sides.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/linalg.h"
#include "engine/precision.h"
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
void expect_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  auto x = a.to(Device::cpu()).to(DType::f32).to_vector<float>(), y = b.to(DType::f32).to_vector<float>();
  ASSERT_EQ(x.size(), y.size());
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], 4) != 0 && bad++ < 5) ADD_FAILURE() << "el " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(bad, 0);
}
}  // namespace

TEST(MatmulLowpGpu, AutocastMatmulAndLinearMatchCpuBits) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  for (Precision p : {Precision::bf16, Precision::f16}) {
    PrecisionScope ps(p);
    struct C { Shape a, b; bool ta, tb; };
    for (const C& c : {C{{65, 33}, {33, 7}, false, false}, C{{33, 65}, {7, 33}, true, true},
                       C{{3, 7, 33}, {33, 5}, false, false}, C{{2, 33, 7}, {2, 33, 5}, true, false}}) {
      Tensor a = ints(c.a, 1), b = ints(c.b, 2);
      Tensor ag = a.to(cu), bg = b.to(cu);
      a.requires_grad_(), b.requires_grad_(), ag.requires_grad_(), bg.requires_grad_();
      Tensor y = matmul(a, b, c.ta, c.tb), yg = matmul(ag, bg, c.ta, c.tb);
      ASSERT_EQ(y.dtype(), autocast_dtype());
      expect_bits(yg, y);
      Tensor g = ints(y.shape(), 3).to(y.dtype());
      y.backward(g);
      yg.backward(g.to(cu));
      expect_bits(ag.grad(), a.grad());
      expect_bits(bg.grad(), b.grad());
    }
    Tensor x = ints({37, 19}, 4), w = ints({11, 19}, 5), bias = ints({11}, 6);
    expect_bits(linear(x.to(cu), w.to(cu), bias.to(cu)), linear(x, w, bias));
  }
}
