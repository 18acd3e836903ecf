// SPDX-License-Identifier: Apache-2.0
// interpolate_bilinear (engine op over kernels/resize, CPU) vs PyTorch's semantics written out by hand:
//   align_corners=True : src = dst · (in − 1) / (out − 1)   (0 when out == 1)
//   align_corners=False: src = (dst + 0.5) · in / out − 0.5, clamped below at 0
//   i0 = floor(src), i1 = min(i0 + 1, in − 1), λ = src − i0, value = (1 − λ)·v[i0] + λ·v[i1] per axis;
// the backward scatters (1 − λ_y)(1 − λ_x)·g etc. to the four taps. Known values from PyTorch for small cases.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;

namespace {
struct Tap1 {
  int64_t i0, i1;
  double lam;
};
Tap1 tap(int64_t dst, int64_t in, int64_t out, bool ac) {
  double src = ac ? (out > 1 ? dst * double(in - 1) / double(out - 1) : 0.0)
                  : std::max((dst + 0.5) * double(in) / double(out) - 0.5, 0.0);
  int64_t i0 = std::min<int64_t>(int64_t(std::floor(src)), in - 1);
  return {i0, std::min(i0 + 1, in - 1), src - double(i0)};
}
}  // namespace

TEST(Resize, KnownPyTorchValues) {
  // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4), mode="bilinear", align_corners=...)
  Tensor x = Tensor::from_vector<double>({0, 1}, Shape{1, 1, 1, 2});
  EXPECT_EQ(interpolate_bilinear(x, Size2(1, 4), false).to_vector<double>(), (std::vector<double>{0, 0.25, 0.75, 1}));
  auto t = interpolate_bilinear(x, Size2(1, 4), true).to_vector<double>();
  const std::vector<double> third = {0, 1.0 / 3, 2.0 / 3, 1};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(t[size_t(i)], third[size_t(i)], 1e-15);
  // 2×2 -> 3×3, align_corners=True: the centre is the mean of the four corners.
  Tensor q = Tensor::from_vector<double>({1, 2, 3, 4}, Shape{1, 1, 2, 2});
  EXPECT_EQ(interpolate_bilinear(q, Size2(3, 3), true).to_vector<double>(),
            (std::vector<double>{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}));
  // Downsampling 4 -> 2 with align_corners=False samples at src 0.5 and 2.5: means of pairs.
  Tensor r = Tensor::from_vector<double>({0, 2, 4, 8}, Shape{1, 1, 1, 4});
  EXPECT_EQ(interpolate_bilinear(r, Size2(1, 2), false).to_vector<double>(), (std::vector<double>{1, 6}));
}

TEST(Resize, MatchesHandFormulaForwardAndBackward) {
  struct Cfg {
    int64_t h, w, oh, ow;
  };
  for (bool ac : {false, true})
    for (Cfg c : {Cfg{3, 4, 7, 9}, Cfg{8, 12, 64, 96}, Cfg{9, 7, 4, 3}, Cfg{30, 40, 240, 320}, Cfg{1, 1, 3, 4},
                  Cfg{5, 6, 5, 6}, Cfg{11, 13, 5, 1}}) {
      Generator g(4);
      const int64_t P = 3;
      Tensor x = randn(Shape{1, P, c.h, c.w}, g, DType::f64).requires_grad_();
      Tensor y = interpolate_bilinear(x, Size2(c.oh, c.ow), ac);
      Tensor gy = randn(y.shape(), g, DType::f64);
      y.backward(gy);
      auto xv = x.to_vector<double>(), gv = gy.to_vector<double>();
      std::vector<double> ry(size_t(P * c.oh * c.ow)), rdx(xv.size(), 0.0);
      for (int64_t p = 0; p < P; ++p)
        for (int64_t oy = 0; oy < c.oh; ++oy)
          for (int64_t ox = 0; ox < c.ow; ++ox) {
            const Tap1 ty = tap(oy, c.h, c.oh, ac), tx = tap(ox, c.w, c.ow, ac);
            auto at = [&](int64_t a, int64_t b) -> size_t { return size_t((p * c.h + a) * c.w + b); };
            const size_t yi = size_t((p * c.oh + oy) * c.ow + ox);
            const double w00 = (1 - ty.lam) * (1 - tx.lam), w01 = (1 - ty.lam) * tx.lam;
            const double w10 = ty.lam * (1 - tx.lam), w11 = ty.lam * tx.lam;
            ry[yi] = w00 * xv[at(ty.i0, tx.i0)] + w01 * xv[at(ty.i0, tx.i1)] + w10 * xv[at(ty.i1, tx.i0)] +
                     w11 * xv[at(ty.i1, tx.i1)];
            rdx[at(ty.i0, tx.i0)] += w00 * gv[yi];
            rdx[at(ty.i0, tx.i1)] += w01 * gv[yi];
            rdx[at(ty.i1, tx.i0)] += w10 * gv[yi];
            rdx[at(ty.i1, tx.i1)] += w11 * gv[yi];
          }
      const std::string tag = std::string(ac ? "ac " : "half-pixel ") + std::to_string(c.h) + "x" +
                              std::to_string(c.w) + "->" + std::to_string(c.oh) + "x" + std::to_string(c.ow);
      leseg::testing::expect_close(y.to_vector<double>(), ry, 1e-12, 1e-12, tag + " y");
      leseg::testing::expect_close(x.grad().to_vector<double>(), rdx, 1e-12, 1e-12, tag + " dx");
    }
}

TEST(Resize, Errors) {
  EXPECT_THROW(interpolate_bilinear(Tensor::zeros(Shape{1, 1, 2, 2}), Size2(0, 3)), Error);
  EXPECT_THROW(interpolate_bilinear(Tensor::zeros(Shape{2, 2}), Size2(3, 3)), Error);
  EXPECT_THROW(interpolate_bilinear(Tensor::zeros(Shape{1, 1, 0, 2}), Size2(3, 3)), Error);
}
