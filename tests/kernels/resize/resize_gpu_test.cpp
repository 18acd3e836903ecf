// SPDX-License-Identifier: Apache-2.0
// CUDA bilinear resize vs the CPU twin: DeepLabV3's 8× upsampling of a 30×40 map to 240×320 and a
// downsampling, both align_corners modes, forward and backward, f32 and f64 (same taps, double arithmetic).
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;

TEST(ResizeGpu, MatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  struct Cfg {
    int64_t h, w, oh, ow;
  };
  for (DType dt : {DType::f32, DType::f64})
    for (bool ac : {false, true})
      for (Cfg c : {Cfg{30, 40, 240, 320}, Cfg{97, 61, 23, 17}}) {
        Generator g(6);
        Tensor x = randn(Shape{2, 8, c.h, c.w}, g, dt);
        Tensor xc = x.clone().requires_grad_(), xg = x.to(Device::cuda()).requires_grad_();
        Tensor yc = interpolate_bilinear(xc, Size2(c.oh, c.ow), ac), yg = interpolate_bilinear(xg, Size2(c.oh, c.ow), ac);
        Tensor gy = randn(yc.shape(), g, dt);
        yc.backward(gy);
        yg.backward(gy.to(Device::cuda()));
        const double tol = dt == DType::f32 ? 1e-6 : 1e-13;
        const std::string tag = std::string(dtype_name(dt)) + (ac ? " ac " : " half-pixel ") + std::to_string(c.h);
        leseg::testing::expect_close(yg.to_vector<double>(), yc.to_vector<double>(), tol, tol, tag + " y");
        leseg::testing::expect_close(xg.grad().to_vector<double>(), xc.grad().to_vector<double>(), tol, tol,
                                     tag + " dx");
      }
}
