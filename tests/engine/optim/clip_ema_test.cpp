// SPDX-License-Identifier: Apache-2.0
// clip_grad_norm_ (L2 / L1 / inf against a serial double loop; scaling only when above max_norm;
// determinism across calls) and ema_update (tensor-list and Module forms, buffer modes).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/nn/module.h"
#include "engine/optim/clip_grad.h"
#include "engine/optim/ema.h"

using namespace leseg;

namespace {
Tensor param_with_grad(std::vector<float> g) {
  Tensor p = Tensor::zeros(Shape{int64_t(g.size())});
  p.requires_grad_(true);
  p.set_grad(Tensor::from_vector<float>(g, Shape{int64_t(g.size())}));
  return p;
}
}  // namespace

TEST(ClipGrad, L2NormAndScaling) {
  Tensor a = param_with_grad({3, 0}), b = param_with_grad({0, 4, 0}), c = Tensor::zeros(Shape{2});
  c.requires_grad_(true);  // no gradient: skipped
  double n = clip_grad_norm_({a, b, c}, 10.0);
  EXPECT_DOUBLE_EQ(n, 5.0);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, 0}));  // below max_norm: untouched
  n = clip_grad_norm_({a, b, c}, 1.0);
  EXPECT_DOUBLE_EQ(n, 5.0);
  float coef = float(1.0 / (5.0 + 1e-6));
  EXPECT_FLOAT_EQ(a.grad().to_vector<float>()[0], 3 * coef);
  EXPECT_FLOAT_EQ(b.grad().to_vector<float>()[1], 4 * coef);
  EXPECT_NEAR(grad_norm({a, b}), 1.0, 1e-6);
}

TEST(ClipGrad, OtherNormsAndLargeTensorsMatchSerialDouble) {
  // 3 * 65536 + 17 elements: several fixed chunks plus a ragged tail.
  const int64_t n = 3 * 65536 + 17;
  Tensor p = Tensor::zeros(Shape{n});
  p.requires_grad_(true);
  Tensor g = Tensor::randn(Shape{n}, 3);
  p.set_grad(g);
  auto v = g.to_vector<float>();
  double l1 = 0, l2 = 0, li = 0;
  for (float x : v) {
    l1 += std::abs(double(x));
    l2 += double(x) * double(x);
    li = std::max(li, std::abs(double(x)));
  }
  EXPECT_NEAR(grad_norm({p}, 1.0), l1, 1e-9 * l1);
  EXPECT_NEAR(grad_norm({p}, 2.0), std::sqrt(l2), 1e-9 * std::sqrt(l2));
  EXPECT_EQ(grad_norm({p}, std::numeric_limits<double>::infinity()), li);
  EXPECT_EQ(grad_norm({p}), grad_norm({p}));  // bitwise repeatable
  EXPECT_THROW(grad_norm({p}, 3.0), Error);
}

TEST(Ema, TensorListForm) {
  Tensor t = Tensor::from_vector<float>({1, 2, 4}, Shape{3});
  Tensor s = Tensor::from_vector<float>({3, 2, 0}, Shape{3});
  Tensor cnt_t = Tensor::scalar<int64_t>(5), cnt_s = Tensor::scalar<int64_t>(9);
  ema_update({t, cnt_t}, {s, cnt_s}, 0.75);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.5f, 2.f, 3.f}));  // .75 t + .25 s (dyadic: exact)
  EXPECT_EQ(cnt_t.item<int64_t>(), 9);                                   // integers are copied
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{3, 2, 0}));
  EXPECT_THROW(ema_update({t}, {Tensor::zeros(Shape{4})}, 0.5), Error);
  EXPECT_THROW(ema_update({t}, {s}, 1.5), Error);
}

namespace {
struct Tiny : Module {
  Tensor w, rm;
  Tiny(float wv, float rv) {
    w = register_parameter("w", Tensor::full(Shape{2}, wv));
    rm = register_buffer("running_mean", Tensor::full(Shape{2}, rv));
  }
};
}  // namespace

TEST(Ema, ModuleFormWithBufferModes) {
  Tiny teacher(0, 0), student(4, 8);
  ema_update(teacher, student, 0.5);
  EXPECT_EQ(teacher.w.to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(teacher.rm.to_vector<float>(), (std::vector<float>{8, 8}));  // copied
  Tiny t2(0, 0);
  ema_update(t2, student, 0.5, EmaBuffers::ema);
  EXPECT_EQ(t2.rm.to_vector<float>(), (std::vector<float>{4, 4}));
  EXPECT_FALSE(t2.w.grad().defined());
}
