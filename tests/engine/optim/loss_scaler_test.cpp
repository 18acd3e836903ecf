// SPDX-License-Identifier: Apache-2.0
// Dynamic loss scaling (engine/optim/loss_scaler.h): a forced overflow skips the step and halves the scale, clean
// steps grow it after growth_interval, unscale_ divides exactly, and the state round-trips through a StateDict.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/optim/loss_scaler.h"
#include "engine/optim/sgd.h"

namespace leseg {
namespace {

Tensor param(std::vector<float> v) {
  Tensor p = Tensor::from_vector<float>(v, Shape{int64_t(v.size())});
  p.requires_grad_(true);
  return p;
}

TEST(LossScaler, ScaledBackwardThenUnscaleGivesTheTrueGradient) {
  LossScalerOptions o;
  o.init_scale = 1024.0;
  LossScaler s(o);
  Tensor p = param({1.0f, -2.0f, 3.0f});
  Tensor c = Tensor::from_vector<float>({0.5f, 0.25f, -1.0f}, Shape{3});
  s.scale(sum(p * c)).backward();
  EXPECT_FLOAT_EQ(p.grad().to_vector<float>()[0], 512.0f);  // scaled
  EXPECT_TRUE(s.unscale_({p}));
  const std::vector<float> g = p.grad().to_vector<float>();
  EXPECT_EQ(g[0], 0.5f);  // a power-of-two scale unscales exactly
  EXPECT_EQ(g[1], 0.25f);
  EXPECT_EQ(g[2], -1.0f);
}

TEST(LossScaler, ForcedOverflowSkipsTheStepAndShrinksThenGrows) {
  LossScalerOptions o;
  o.init_scale = 65536.0;
  o.growth_interval = 3;
  LossScaler s(o);
  Tensor p = param({1.0f, 1.0f});
  SGD opt({ParamGroup{{p}, 0.1}});
  // an f16 activation whose scaled gradient overflows: d loss / d y = S = 65536 > 65504 (f16's max) -> inf when
  // the gradient is stored in f16, and inf reaches the f32 master weight
  Tensor big = Tensor::from_vector<float>({3.0f, 1.0f}, Shape{2});
  s.scale(sum((p * big).to(DType::f16).to(DType::f32))).backward();
  const bool finite = s.unscale_({p});
  EXPECT_FALSE(finite);
  s.update(!finite);
  if (finite) opt.step();  // what the trainer does: no optimizer step on inf/NaN
  opt.zero_grad();
  EXPECT_EQ(p.to_vector<float>()[0], 1.0f);  // parameters untouched
  EXPECT_EQ(s.scale_value(), 32768.0);       // halved
  EXPECT_EQ(s.skipped_steps(), 1);
  EXPECT_EQ(s.clean_streak(), 0);
  // NaN counts as an overflow too
  p.zero_grad();
  s.scale(sum(p * Tensor::from_vector<float>({std::numeric_limits<float>::quiet_NaN(), 1.0f}, Shape{2}))).backward();
  const bool f2 = s.unscale_({p});
  EXPECT_FALSE(f2);
  s.update(!f2);
  opt.zero_grad();
  EXPECT_EQ(s.scale_value(), 16384.0);
  // three clean steps: the scale doubles once, and the streak restarts
  for (int i = 0; i < 3; ++i) {
    s.scale(sum(p * Tensor::from_vector<float>({1.0f, 2.0f}, Shape{2}))).backward();
    const bool ok = s.unscale_({p});
    EXPECT_TRUE(ok);
    s.update(!ok);
    if (ok) opt.step();
    opt.zero_grad();
    EXPECT_EQ(s.scale_value(), i < 2 ? 16384.0 : 32768.0) << i;
  }
  EXPECT_EQ(s.clean_streak(), 0);
  EXPECT_NE(p.to_vector<float>()[0], 1.0f);  // clean steps did update
}

TEST(LossScaler, StateRoundTripsAndBadStateIsNamed) {
  LossScalerOptions o;
  o.growth_interval = 10;
  LossScaler a(o);
  a.update(true);
  a.update(false);
  a.update(false);
  LossScaler b(o);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.scale_value(), a.scale_value());
  EXPECT_EQ(b.clean_streak(), 2);
  EXPECT_EQ(b.skipped_steps(), 1);
  StateDict bad = a.state_dict();
  bad.erase("streak");
  try {
    b.load_state_dict(bad);
    FAIL() << "missing key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'streak'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LossScaler(LossScalerOptions{0.0}), Error);
}

}  // namespace
}  // namespace leseg
