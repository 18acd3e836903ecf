// SPDX-License-Identifier: Apache-2.0
// CUDA conv2d vs the CPU twin, on both CUDA backends (cuDNN when it loads, and the im2col + cuBLAS fallback):
// output and the gradients for input, weight and bias, f32 (no TF32) and f64, over ResNet/ASPP-like layers.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "kernels/conv2d/conv2d.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;
using leseg::testing::ConvCfg;

#if LESEG_WITH_CUDA  // the backend switches exist only in a CUDA build (a CPU-only build still links this test)
namespace {
struct FallbackGuard {
  explicit FallbackGuard(bool on) { kernels::conv2d_cuda_force_fallback(on); }
  ~FallbackGuard() { kernels::conv2d_cuda_force_fallback(false); }
};
}  // namespace
#endif

TEST(Conv2dGpu, MatchesCpuOnBothBackends) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
#if LESEG_WITH_CUDA
  const std::vector<ConvCfg> cfgs = {
      {2, 3, 61, 83, 16, 7, 7, 2, 2, 3, 3, 1, 1, false},   // stem
      {2, 16, 31, 42, 16, 3, 3, 1, 1, 1, 1, 1, 1, true},   // basic block
      {1, 32, 15, 21, 24, 3, 3, 1, 1, 12, 12, 12, 12, true},  // ASPP branch
      {2, 24, 15, 21, 40, 1, 1, 1, 1, 0, 0, 1, 1, true},   // 1×1
      {2, 24, 15, 21, 40, 1, 1, 2, 2, 0, 0, 1, 1, false},  // strided 1×1
      {1, 5, 9, 13, 3, 2, 5, 1, 3, 0, 2, 2, 1, true},      // rectangular
  };
  std::printf("conv2d CUDA backend available: %s\n",
              kernels::conv2d_cuda_backend() == kernels::Conv2dBackend::cudnn ? "cuDNN" : "im2col + cuBLAS only");
  for (bool fallback : {false, true}) {
    FallbackGuard guard(fallback);
    for (DType dt : {DType::f32, DType::f64})
      for (const auto& c : cfgs) {
        Generator g(7);
        const Shape xs{c.n, c.ci, c.h, c.w}, ws{c.co, c.ci, c.kh, c.kw};
        Tensor x = randn(xs, g, dt), w = randn(ws, g, dt), b = randn(Shape{c.co}, g, dt);
        Tensor X = x.clone().requires_grad_(), W = w.clone().requires_grad_(), B = b.clone().requires_grad_();
        Tensor Xg = x.to(Device::cuda()).requires_grad_(), Wg = w.to(Device::cuda()).requires_grad_();
        Tensor Bg = b.to(Device::cuda()).requires_grad_();
        const Size2 st(c.sh, c.sw), pd(c.ph, c.pw), dl(c.dh, c.dw);
        Tensor Y = conv2d(X, W, c.bias ? B : Tensor(), st, pd, dl);
        Tensor Yg = conv2d(Xg, Wg, c.bias ? Bg : Tensor(), st, pd, dl);
        Tensor gy = randn(Y.shape(), g, dt);
        Y.backward(gy);
        Yg.backward(gy.to(Device::cuda()));
        const double tol = dt == DType::f32 ? 2e-4 : 1e-10;
        const std::string tag = std::string(fallback ? "fallback " : "default ") + dtype_name(dt) + " " + xs.str() +
                                " w " + ws.str();
        leseg::testing::expect_close(Yg.to_vector<double>(), Y.to_vector<double>(), tol, tol, tag + " y");
        leseg::testing::expect_close(Xg.grad().to_vector<double>(), X.grad().to_vector<double>(), tol, tol, tag + " dx");
        leseg::testing::expect_close(Wg.grad().to_vector<double>(), W.grad().to_vector<double>(), tol * 10, tol,
                                     tag + " dw");
        if (c.bias)
          leseg::testing::expect_close(Bg.grad().to_vector<double>(), B.grad().to_vector<double>(), tol * 10, tol,
                                       tag + " db");
      }
  }
#endif
}
