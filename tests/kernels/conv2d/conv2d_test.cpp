// SPDX-License-Identifier: Apache-2.0
// conv2d (engine op over kernels/conv2d, CPU) vs the direct 7-loop convolution in double: outputs and the
// gradients for input, weight and bias, over strides / paddings / dilations / rectangular kernels / 1×1, with
// shapes that span several 256-column blocks and 64-column weight-gradient blocks. Integer inputs in f32
// (every sum exact) must match bit for bit; random f64 inputs to 1e-12. Also: thread-count independence and
// named errors on bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"
#include "tests/kernels/conv2d/conv2d_reference.h"

using namespace leseg;
using leseg::testing::ConvCfg;

namespace {
const std::vector<ConvCfg> kCfgs = {
    {1, 2, 5, 7, 3, 3, 3, 2, 2, 1, 1, 2, 2, true},     // the brief's tiny case
    {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 1, 1, true},    // same-size 3×3
    {1, 3, 23, 29, 5, 7, 7, 2, 2, 3, 3, 1, 1, true},   // ResNet stem shape, P = 180
    {2, 8, 20, 19, 6, 3, 3, 1, 1, 2, 2, 2, 2, false},  // dilated, P = 380 (two column blocks), K = 72 (two k blocks)
    {3, 5, 17, 18, 7, 1, 1, 1, 1, 0, 0, 1, 1, true},   // pointwise (no im2col), P = 306
    {1, 4, 9, 8, 3, 1, 1, 2, 2, 0, 0, 1, 1, false},    // strided 1×1 (downsample shortcut)
    {1, 2, 6, 13, 3, 2, 5, 1, 3, 0, 2, 2, 1, true},    // rectangular everything
    {2, 1, 4, 4, 2, 3, 3, 1, 1, 12, 12, 12, 12, true}, // ASPP-like: dilation 12, padding 12 on a tiny map
};

std::vector<double> ints(int64_t n, Generator& g, int lo, int hi) {
  auto u = rand(Shape{n}, g, DType::f64).to_vector<double>();
  std::vector<double> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(lo + int64_t(u[i] * (hi - lo + 1) - 1e-12));
  return v;
}

void run_case(const ConvCfg& c, DType dt, bool integer) {
  Generator g(11);
  const Shape xs{c.n, c.ci, c.h, c.w}, ws{c.co, c.ci, c.kh, c.kw}, ys{c.n, c.co, c.ho(), c.wo()};
  std::vector<double> x, w, b, gy;
  if (integer) {
    x = ints(xs.numel(), g, -3, 3), w = ints(ws.numel(), g, -2, 2), b = ints(c.co, g, -4, 4), gy = ints(ys.numel(), g, -2, 2);
  } else {
    x = randn(xs, g, DType::f64).to_vector<double>(), w = randn(ws, g, DType::f64).to_vector<double>();
    b = randn(Shape{c.co}, g, DType::f64).to_vector<double>(), gy = randn(ys, g, DType::f64).to_vector<double>();
  }
  auto ref = leseg::testing::conv_reference(c, x, w, b, gy);
  Tensor X = Tensor::from_vector(x, xs).to(dt).requires_grad_(), W = Tensor::from_vector(w, ws).to(dt).requires_grad_();
  Tensor B = Tensor::from_vector(b, Shape{c.co}).to(dt).requires_grad_();
  Tensor Y = conv2d(X, W, c.bias ? B : Tensor(), Size2(c.sh, c.sw), Size2(c.ph, c.pw), Size2(c.dh, c.dw));
  ASSERT_EQ(Y.shape(), ys);
  Y.backward(Tensor::from_vector(gy, ys).to(dt));
  const double tol = integer ? 0.0 : 1e-12;
  const std::string tag = "cfg " + xs.str() + " w " + ws.str() + (integer ? " int" : " f64");
  leseg::testing::expect_close(Y.to_vector<double>(), ref.y, tol, tol, tag + " y");
  leseg::testing::expect_close(X.grad().to_vector<double>(), ref.dx, tol, tol, tag + " dx");
  leseg::testing::expect_close(W.grad().to_vector<double>(), ref.dw, tol, tol, tag + " dw");
  if (c.bias) leseg::testing::expect_close(B.grad().to_vector<double>(), ref.db, tol, tol, tag + " db");
  else EXPECT_FALSE(B.grad().defined());
}
}  // namespace

TEST(Conv2d, MatchesDirectLoopsIntegerF32Exactly) {
  for (const auto& c : kCfgs) run_case(c, DType::f32, true);
}
TEST(Conv2d, MatchesDirectLoopsF64) {
  for (const auto& c : kCfgs) run_case(c, DType::f64, false);
}

TEST(Conv2d, ThreadCountIndependent) {
  Generator g(5);
  Tensor x = randn(Shape{2, 16, 31, 37}, g), w = randn(Shape{24, 16, 3, 3}, g), b = randn(Shape{24}, g);
  Tensor gy;
  std::vector<std::vector<float>> runs;
  const int prev = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    Tensor X = x.detach().clone().requires_grad_(), W = w.detach().clone().requires_grad_();
    Tensor Y = conv2d(X, W, b, 1, 2, 2);
    if (!gy.defined()) gy = randn(Y.shape(), g);
    Y.backward(gy);
    std::vector<float> all = Y.to_vector<float>();
    for (const Tensor& t : {X.grad(), W.grad()}) {
      auto v = t.to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    runs.push_back(all);
  }
  omp_set_num_threads(prev);
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

TEST(Conv2d, ErrorsNameTheProblem) {
  Tensor x = Tensor::zeros(Shape{1, 3, 8, 8}), w = Tensor::zeros(Shape{4, 2, 3, 3});
  try {
    conv2d(x, w);
    FAIL() << "channel mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input channels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(conv2d(Tensor::zeros(Shape{1, 2, 2, 2}), w), Error);                     // kernel larger than input
  EXPECT_THROW(conv2d(Tensor::zeros(Shape{3, 8, 8}), Tensor::zeros(Shape{4, 3, 3, 3})), Error);  // not 4-D
  EXPECT_THROW(conv2d(x, Tensor::zeros(Shape{4, 3, 3, 3}), Tensor::zeros(Shape{5})), Error);     // bias size
  EXPECT_THROW(conv2d(x, Tensor::zeros(Shape{4, 3, 3, 3}), Tensor(), 0), Error);                 // stride 0
  EXPECT_THROW(conv2d(x, Tensor::zeros(Shape{4, 3, 3, 3}, DType::f64)), Error);                 // dtype mix
}

TEST(Conv2d, EmptyBatch) {
  Tensor x = Tensor::zeros(Shape{0, 3, 8, 8}).requires_grad_(), w = Tensor::ones(Shape{4, 3, 3, 3}).requires_grad_();
  Tensor y = conv2d(x, w, Tensor(), 1, 1);
  EXPECT_EQ(y.shape(), (Shape{0, 4, 8, 8}));
}
