// SPDX-License-Identifier: Apache-2.0
// CUDA matmul with an empty inner dimension (k == 0) follows the CPU twin: C = beta·C (zeros for beta = 0,
// whatever C held before). cuBLAS has been seen to leave C untouched for k == 0, so matmul_cuda handles it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/ops/linalg.h"
#include "engine/tensor.h"
#include "kernels/matmul/matmul.h"

#if LESEG_WITH_CUDA  // kernel-level CUDA entry points exist only in a CUDA build

using namespace leseg;

TEST(MatmulK0Gpu, EmptyInnerDimensionScalesC) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  kernels::GemmShape s;
  s.batch = 2, s.m = 3, s.n = 5, s.k = 0, s.stride_c = 17;  // padded batch stride: the gap must stay untouched
  std::vector<float> init(size_t(s.batch * s.stride_c));
  for (size_t i = 0; i < init.size(); ++i) init[i] = float(int(i % 7) - 3);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float beta : {0.f, 2.f}) {
    std::vector<float> c0 = init;
    if (beta == 0.f)
      for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t e = 0; e < s.m * s.n; ++e) c0[size_t(b * s.stride_c + e)] = nan;  // beta = 0 must not read C
    Tensor c = Tensor::from_vector(c0, Shape{int64_t(c0.size())}).to(cu);
    Tensor a = Tensor::empty(Shape{1}, DType::f32, cu), bm = Tensor::empty(Shape{1}, DType::f32, cu);
    kernels::matmul_cuda<float>(a.data<float>(), bm.data<float>(), c.data<float>(), s, beta, false, current_stream(cu));
    std::vector<float> got = c.to_vector<float>();
    int bad = 0, nonzero = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t e = 0; e < s.stride_c; ++e) {
        const size_t i = size_t(b * s.stride_c + e);
        const float want = e < s.m * s.n ? beta * init[i] : c0[i];
        if (want != 0.f) ++nonzero;
        if (!(got[i] == want) && bad++ < 5) ADD_FAILURE() << "beta " << beta << " el " << i << ": " << got[i] << " vs " << want;
      }
    EXPECT_EQ(bad, 0);
    EXPECT_GT(nonzero, 0);
  }
}

TEST(MatmulK0Gpu, EngineMatmulOfEmptyOperandsIsZero) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  {  // leave a NaN-filled block of the output's size in the allocator cache, so stale memory would show
    Tensor junk = Tensor::full(Shape{4, 6}, std::nan(""), DType::f32, cu);
  }
  Tensor z = matmul(Tensor::ones(Shape{4, 0}, DType::f32, cu), Tensor::ones(Shape{0, 6}, DType::f32, cu));
  ASSERT_EQ(z.shape(), (Shape{4, 6}));
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.f);
}
#else
TEST(MatmulK0Gpu, NeedsACudaBuild) { GTEST_SKIP() << "no CUDA device: CPU-only build (LESEG_CUDA=OFF), no CUDA kernel to test"; }
#endif
