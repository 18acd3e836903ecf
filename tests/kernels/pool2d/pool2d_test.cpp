// SPDX-License-Identifier: Apache-2.0
// Pooling ops (engine ops over kernels/pool2d, CPU) vs serial loops written from PyTorch's definitions:
// max (value, first-maximum gradient routing), avg (count_include_pad true / false), adaptive avg (global
// and general), forward and backward, f64 random inputs; plus hand-checked small cases and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;

namespace {
struct PoolCfg {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
};
const std::vector<PoolCfg> kCfgs = {
    {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},   // ResNet stem max pool
    {1, 2, 8, 8, 2, 2, 2, 2, 0, 0},   // 2×2
    {1, 4, 11, 6, 3, 2, 1, 2, 1, 1},  // overlapping, rectangular
    {2, 1, 5, 5, 5, 5, 1, 1, 2, 2},   // kernel = image, padded
};

// Reference: y (planes, Ho, Wo) and dx for upstream gy; kind 0 max, 1 avg incl pad, 2 avg excl pad.
void pool_reference(const PoolCfg& c, int kind, const std::vector<double>& x, const std::vector<double>& gy,
                    std::vector<double>& y, std::vector<double>& dx) {
  const int64_t Ho = (c.h + 2 * c.ph - c.kh) / c.sh + 1, Wo = (c.w + 2 * c.pw - c.kw) / c.sw + 1;
  y.assign(size_t(c.n * c.c * Ho * Wo), 0);
  dx.assign(x.size(), 0);
  for (int64_t p = 0; p < c.n * c.c; ++p)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const size_t yi = size_t((p * Ho + oy) * Wo + ox);
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        size_t arg = 0;
        int64_t real = 0, padded = 0;
        for (int64_t i = 0; i < c.kh; ++i)
          for (int64_t j = 0; j < c.kw; ++j) {
            const int64_t iy = oy * c.sh - c.ph + i, ix = ox * c.sw - c.pw + j;
            if (iy < c.h + c.ph && ix < c.w + c.pw) ++padded;  // inside the padded image
            if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
            const size_t xi = size_t((p * c.h + iy) * c.w + ix);
            ++real;
            sum += x[xi];
            if (x[xi] > best) best = x[xi], arg = xi;
          }
        if (kind == 0) {
          y[yi] = best;
          dx[arg] += gy[yi];
        } else {
          const double d = double(kind == 1 ? padded : real);
          y[yi] = sum / d;
          for (int64_t i = 0; i < c.kh; ++i)
            for (int64_t j = 0; j < c.kw; ++j) {
              const int64_t iy = oy * c.sh - c.ph + i, ix = ox * c.sw - c.pw + j;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              dx[size_t((p * c.h + iy) * c.w + ix)] += gy[yi] / d;
            }
        }
      }
}
}  // namespace

TEST(Pool2d, MaxAndAvgMatchSerialLoops) {
  for (const auto& c : kCfgs)
    for (int kind : {0, 1, 2}) {
      Generator g(3);
      const Shape xs{c.n, c.c, c.h, c.w};
      Tensor x = randn(xs, g, DType::f64).requires_grad_();
      Tensor y = kind == 0 ? max_pool2d(x, Size2(c.kh, c.kw), Size2(c.sh, c.sw), Size2(c.ph, c.pw))
                           : avg_pool2d(x, Size2(c.kh, c.kw), Size2(c.sh, c.sw), Size2(c.ph, c.pw), kind == 1);
      Tensor gy = randn(y.shape(), g, DType::f64);
      y.backward(gy);
      std::vector<double> ry, rdx;
      pool_reference(c, kind, x.to_vector<double>(), gy.to_vector<double>(), ry, rdx);
      const std::string tag = "kind " + std::to_string(kind) + " " + xs.str() + " k" + std::to_string(c.kh) + "x" +
                              std::to_string(c.kw);
      leseg::testing::expect_close(y.to_vector<double>(), ry, 1e-12, 1e-12, tag + " y");
      leseg::testing::expect_close(x.grad().to_vector<double>(), rdx, 1e-12, 1e-12, tag + " dx");
    }
}

TEST(Pool2d, MaxTiesRouteToFirstMaximum) {
  // A plane of equal values: every window's gradient goes to its first (top-left) pixel, as PyTorch.
  Tensor x = Tensor::ones(Shape{1, 1, 4, 4}, DType::f64).requires_grad_();
  Tensor y = max_pool2d(x, 2);
  y.backward(Tensor::ones(y.shape(), DType::f64));
  const std::vector<double> expect = {1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};
  EXPECT_EQ(x.grad().to_vector<double>(), expect);
}

TEST(Pool2d, AdaptiveAvgMatchesWindows) {
  for (auto [h, w, oh, ow] : std::vector<std::array<int64_t, 4>>{{7, 9, 1, 1}, {7, 5, 3, 2}, {10, 10, 4, 4}, {3, 4, 5, 7}}) {
    Generator g(9);
    Tensor x = randn(Shape{2, 3, h, w}, g, DType::f64).requires_grad_();
    Tensor y = adaptive_avg_pool2d(x, Size2(oh, ow));
    ASSERT_EQ(y.shape(), (Shape{2, 3, oh, ow}));
    Tensor gy = randn(y.shape(), g, DType::f64);
    y.backward(gy);
    auto xv = x.to_vector<double>(), gv = gy.to_vector<double>();
    std::vector<double> ry(size_t(6 * oh * ow)), rdx(xv.size(), 0.0);
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          // PyTorch: start = floor(o·in/out), end = ceil((o+1)·in/out)
          const int64_t y0 = int64_t(std::floor(double(oy * h) / oh)), y1 = int64_t(std::ceil(double((oy + 1) * h) / oh));
          const int64_t x0 = int64_t(std::floor(double(ox * w) / ow)), x1 = int64_t(std::ceil(double((ox + 1) * w) / ow));
          const double cnt = double((y1 - y0) * (x1 - x0));
          double s = 0;
          const size_t yi = size_t((p * oh + oy) * ow + ox);
          for (int64_t a = y0; a < y1; ++a)
            for (int64_t b = x0; b < x1; ++b) {
              s += xv[size_t((p * h + a) * w + b)];
              rdx[size_t((p * h + a) * w + b)] += gv[yi] / cnt;
            }
          ry[yi] = s / cnt;
        }
    leseg::testing::expect_close(y.to_vector<double>(), ry, 1e-12, 1e-12, "adaptive y");
    leseg::testing::expect_close(x.grad().to_vector<double>(), rdx, 1e-12, 1e-12, "adaptive dx");
  }
}

TEST(Pool2d, Errors) {
  Tensor x = Tensor::zeros(Shape{1, 1, 4, 4});
  EXPECT_THROW(max_pool2d(x, 3, 1, 2), Error);                 // padding > kernel / 2
  EXPECT_THROW(max_pool2d(x, 6), Error);                       // kernel larger than input
  EXPECT_THROW(avg_pool2d(Tensor::zeros(Shape{4, 4}), 2), Error);  // not 3-D / 4-D
  EXPECT_THROW(adaptive_avg_pool2d(x, Size2(0, 2)), Error);
  EXPECT_THROW(max_pool2d(Tensor::zeros(Shape{1, 1, 4, 4}, DType::i32), 2), Error);
}
