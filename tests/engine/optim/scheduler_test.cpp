// SPDX-License-Identifier: Apache-2.0
// LR schedulers: values at given steps against the closed forms (written out by hand), per-group base lrs,
// resume through set_state.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "engine/optim/scheduler.h"
#include "engine/optim/sgd.h"

using namespace leseg;

namespace {
struct Fixture {
  Tensor a, b;
  std::unique_ptr<SGD> opt;
  Fixture(double lr_a = 1.0, double lr_b = 0.1) {
    a = Tensor::zeros(Shape{1});
    a.requires_grad_(true);
    b = Tensor::zeros(Shape{1});
    b.requires_grad_(true);
    ParamGroup g1, g2;
    g1.params = {a};
    g1.lr = lr_a;
    g2.params = {b};
    g2.lr = lr_b;
    opt = std::make_unique<SGD>(std::vector<ParamGroup>{g1, g2});
  }
  double lr(int g) const { return opt->param_groups()[size_t(g)].lr; }
};
void advance(LRScheduler& s, int n) {
  for (int i = 0; i < n; ++i) s.step();
}
}  // namespace

TEST(Scheduler, CosineWarmup) {
  Fixture f;
  CosineWarmupLR s(*f.opt, 4, 14, 0.01);
  EXPECT_DOUBLE_EQ(f.lr(0), 0.0);  // t = 0: warmup from 0
  advance(s, 2);
  EXPECT_DOUBLE_EQ(f.lr(0), 0.5);  // 2 / 4
  EXPECT_DOUBLE_EQ(f.lr(1), 0.05);
  advance(s, 2);
  EXPECT_DOUBLE_EQ(f.lr(0), 1.0);  // t = 4: cosine starts at base
  advance(s, 5);                   // t = 9: half way: min + (base - min) / 2
  EXPECT_NEAR(f.lr(0), 0.01 + 0.99 * 0.5, 1e-15);
  EXPECT_NEAR(f.lr(1), 0.01 + 0.09 * 0.5, 1e-15);
  advance(s, 5);  // t = 14: min
  EXPECT_NEAR(f.lr(0), 0.01, 1e-15);
  advance(s, 3);  // stays at min
  EXPECT_NEAR(f.lr(0), 0.01, 1e-15);
  EXPECT_EQ(s.last_step(), 17);
  EXPECT_THROW(CosineWarmupLR(*f.opt, 5, 5), Error);
}

TEST(Scheduler, StepAndMultiStep) {
  Fixture f;
  StepLR s(*f.opt, 3, 0.5);
  std::vector<double> want = {1, 1, 1, 0.5, 0.5, 0.5, 0.25};
  for (size_t t = 0; t < want.size(); ++t) {
    EXPECT_DOUBLE_EQ(f.lr(0), want[t]) << "t=" << t;
    EXPECT_DOUBLE_EQ(f.lr(1), 0.1 * want[t]) << "t=" << t;
    s.step();
  }
  Fixture g;
  MultiStepLR m(*g.opt, {2, 5}, 0.1);
  std::vector<double> wm = {1, 1, 0.1, 0.1, 0.1, 0.01, 0.01};
  for (size_t t = 0; t < wm.size(); ++t) {
    EXPECT_NEAR(g.lr(0), wm[t], 1e-15) << "t=" << t;
    m.step();
  }
}

TEST(Scheduler, PolyAndLinear) {
  Fixture f;
  PolyLR p(*f.opt, 10, 2.0);
  advance(p, 5);
  EXPECT_DOUBLE_EQ(f.lr(0), 0.25);  // (1 - 5/10)^2
  advance(p, 7);
  EXPECT_DOUBLE_EQ(f.lr(0), 0.0);
  Fixture g;
  LinearLR l(*g.opt, 0.1, 1.0, 9);
  EXPECT_DOUBLE_EQ(g.lr(0), 0.1);
  advance(l, 3);
  EXPECT_NEAR(g.lr(0), 0.4, 1e-15);  // .1 + .9 * 3/9
  advance(l, 10);
  EXPECT_DOUBLE_EQ(g.lr(0), 1.0);
}

TEST(Scheduler, ResumeFromState) {
  Fixture f;
  CosineWarmupLR s(*f.opt, 2, 20, 0.0);
  advance(s, 7);
  int64_t saved = s.state();
  double lr7 = f.lr(0);
  Fixture g;
  CosineWarmupLR r(*g.opt, 2, 20, 0.0);
  r.set_state(saved);
  EXPECT_DOUBLE_EQ(g.lr(0), lr7);
  s.step();
  r.step();
  EXPECT_DOUBLE_EQ(f.lr(0), g.lr(0));
  EXPECT_NEAR(f.lr(0), 0.5 * (1 + std::cos(std::numbers::pi * 6.0 / 18.0)), 1e-15);
}
