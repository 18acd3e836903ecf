// SPDX-License-Identifier: Apache-2.0
// Optimizers: three steps of SGD / Adam / AdamW on a scalar with gradients 0.5, -0.25, 1.0 against values
// computed independently from the torch.optim update rules (double precision, written out below), plus
// state_dict round trips, parameter groups and precondition errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"

using namespace leseg;

namespace {
const double kGrads[3] = {0.5, -0.25, 1.0};

Tensor scalar_param(double v) {
  Tensor p = Tensor::from_vector<double>({v}, Shape{1});
  p.requires_grad_(true);
  return p;
}

// Runs three steps with the fixed gradients and returns p after each.
std::vector<double> run3(Optimizer& opt, Tensor& p) {
  std::vector<double> out;
  for (double g : kGrads) {
    p.set_grad(Tensor::from_vector<double>({g}, Shape{1}));
    opt.step();
    out.push_back(p.item<double>());
  }
  return out;
}

void expect_seq(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "step " << i + 1;
}
}  // namespace

TEST(SGD, PlainMatchesHandComputed) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  SGD opt({p}, h);
  // p -= 0.1 * g: 1 - .05 = .95; .95 + .025 = .975; .975 - .1 = .875
  expect_seq(run3(opt, p), {0.95, 0.975, 0.875});
}

TEST(SGD, MomentumDampeningFirstStepIsGradWithoutDampening) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.dampening = 0.1;
  SGD opt({p}, h);
  // buf1 = .5 (no dampening on the first step); buf2 = .45 + .9 * -.25 = .225; buf3 = .2025 + .9 = 1.1025
  expect_seq(run3(opt, p), {0.95, 0.9275, 0.81725});
}

TEST(SGD, NesterovWithWeightDecay) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.weight_decay = 0.1;
  h.nesterov = true;
  SGD opt({p}, h);
  // d1 = .5 + .1 = .6, buf = .6, step d = .6 + .54 = 1.14 -> .886; then .868066, .630906146
  expect_seq(run3(opt, p), {0.886, 0.868066, 0.6309061460000001});
}

TEST(SGD, NesterovNeedsMomentumAndNoDampening) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.nesterov = true;
  EXPECT_THROW(SGD({p}, h), Error);
}

TEST(Adam, MatchesHandComputed) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  Adam opt({p}, h);
  expect_seq(run3(opt, p), {0.900000002, 0.8733662987078463, 0.8075551396770898});
}

TEST(Adam, CoupledWeightDecay) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  h.weight_decay = 0.1;
  Adam opt({p}, h);
  expect_seq(run3(opt, p), {0.9000000016666666, 0.8544413674617625, 0.7815043998631658});
}

TEST(AdamW, DecoupledWeightDecay) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  h.weight_decay = 0.1;
  AdamW opt({p}, h);
  EXPECT_STREQ(opt.name(), "AdamW");
  expect_seq(run3(opt, p), {0.890000002, 0.8544662986878463, 0.7801104766702113});
}

TEST(Adam, Amsgrad) {
  Tensor p = scalar_param(1.0);
  ParamGroup h;
  h.lr = 0.1;
  h.beta2 = 0.99;
  h.amsgrad = true;
  Adam opt({p}, h);
  expect_seq(run3(opt, p), {0.900000002, 0.8733300597679334, 0.8076887758955797});
}

TEST(Adam, F32MatchesF64Reference) {
  // A vector of 37 f32 parameters (not a multiple of any block) against the same update in double.
  const int64_t n = 37;
  Tensor p = Tensor::randn(Shape{n}, 7);
  Tensor p64 = p.to(DType::f64);
  p.requires_grad_(true);
  p64.requires_grad_(true);
  ParamGroup h;
  h.lr = 0.01;
  h.weight_decay = 0.05;
  AdamW a({p}, h), b({p64}, h);
  for (int s = 0; s < 3; ++s) {
    Tensor g = Tensor::randn(Shape{n}, 100 + s);
    p.set_grad(g);
    p64.set_grad(g.to(DType::f64));
    a.step();
    b.step();
  }
  auto x = p.to_vector<float>();
  auto y = p64.to_vector<double>();
  double moved = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(x[size_t(i)], y[size_t(i)], 1e-5 + 1e-5 * std::abs(y[size_t(i)])) << "element " << i;
    moved += std::abs(y[size_t(i)]);
  }
  EXPECT_GT(moved, 0.0);
}

TEST(Optimizer, SkipsParamsWithoutGradAndBumpsVersion) {
  Tensor a = scalar_param(1.0), b = scalar_param(2.0);
  ParamGroup h;
  h.lr = 0.5;
  SGD opt({a, b}, h);
  a.set_grad(Tensor::from_vector<double>({1.0}, Shape{1}));
  uint64_t va = a.version(), vb = b.version();
  opt.step();
  EXPECT_DOUBLE_EQ(a.item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b.item<double>(), 2.0);
  EXPECT_GT(a.version(), va);
  EXPECT_EQ(b.version(), vb);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, GroupsHaveTheirOwnHyperParameters) {
  Tensor a = scalar_param(1.0), b = scalar_param(1.0);
  ParamGroup g1, g2;
  g1.params = {a};
  g1.lr = 0.1;
  g2.params = {b};
  g2.lr = 0.01;
  SGD opt({g1, g2});
  a.set_grad(Tensor::from_vector<double>({1.0}, Shape{1}));
  b.set_grad(Tensor::from_vector<double>({1.0}, Shape{1}));
  opt.step();
  EXPECT_DOUBLE_EQ(a.item<double>(), 0.9);
  EXPECT_DOUBLE_EQ(b.item<double>(), 0.99);
  EXPECT_EQ(opt.num_params(), 2);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].initial_lr, 0.01);
}

TEST(Optimizer, RejectsBadParameters) {
  Tensor no_grad = Tensor::zeros(Shape{2});
  ParamGroup h;
  EXPECT_THROW(SGD({no_grad}, h), Error);
  Tensor p = scalar_param(1.0);
  EXPECT_THROW(SGD({p, p}, h), Error);
  Tensor q = scalar_param(1.0);
  SGD opt({q}, h);
  q.impl()->grad = Tensor::zeros(Shape{3}, DType::f64).impl();  // wrong shape behind set_grad's back
  EXPECT_THROW(opt.step(), Error);
}

TEST(Optimizer, StateDictRoundTripContinuesIdentically) {
  for (int kind = 0; kind < 2; ++kind) {
    Tensor p1 = Tensor::from_vector<double>({1.0, -2.0, 3.0}, Shape{3});
    p1.requires_grad_(true);
    Tensor p2 = p1.detach().clone();
    p2.requires_grad_(true);
    ParamGroup h;
    h.lr = 0.05;
    h.momentum = 0.9;
    std::unique_ptr<Optimizer> o1, o2;
    if (kind == 0) {
      o1 = std::make_unique<SGD>(std::vector<Tensor>{p1}, h);
      o2 = std::make_unique<SGD>(std::vector<Tensor>{p2}, h);
    } else {
      o1 = std::make_unique<Adam>(std::vector<Tensor>{p1}, h);
      o2 = std::make_unique<Adam>(std::vector<Tensor>{p2}, h);
    }
    auto grad = [](int s) { return Tensor::from_vector<double>({0.5 * s, -1.0, 0.25}, Shape{3}); };
    for (int s = 1; s <= 2; ++s) {
      p1.set_grad(grad(s));
      o1->step();
    }
    StateDict sd = o1->state_dict();
    EXPECT_TRUE(sd.count("state.0.step"));
    EXPECT_EQ(sd.at("state.0.step").item<int64_t>(), 2);
    p2.detach().copy_(p1.detach());
    o1->param_groups()[0].lr = 0.5;  // changed after saving: the load must bring 0.05 back into o2
    o2->param_groups()[0].lr = 123.0;
    o2->load_state_dict(sd);
    EXPECT_DOUBLE_EQ(o2->param_groups()[0].lr, 0.05);
    o1->param_groups()[0].lr = 0.05;
    p1.set_grad(grad(3));
    p2.set_grad(grad(3));
    o1->step();
    o2->step();
    EXPECT_EQ(p1.to_vector<double>(), p2.to_vector<double>()) << "kind " << kind;
  }
}

TEST(Optimizer, LoadStateDictErrorsNameTheKey) {
  Tensor p = Tensor::zeros(Shape{2, 3}, DType::f64);
  p.requires_grad_(true);
  ParamGroup h;
  Adam opt({p}, h);
  p.set_grad(Tensor::ones(Shape{2, 3}, DType::f64));
  opt.step();
  StateDict good = opt.state_dict();
  auto expect_msg = [&](StateDict sd, const std::string& needle) {
    try {
      opt.load_state_dict(sd);
      FAIL() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  StateDict bad = good;
  bad["state.0.exp_avg"] = Tensor::zeros(Shape{3, 2}, DType::f64);
  expect_msg(bad, "state.0.exp_avg");
  bad = good;
  bad["state.0.exp_avg"] = Tensor::zeros(Shape{2, 3}, DType::f32);
  expect_msg(bad, "dtype");
  bad = good;
  bad["state.0.bogus"] = Tensor::zeros(Shape{2, 3}, DType::f64);
  expect_msg(bad, "unexpected key 'state.0.bogus'");
  bad = good;
  bad["state.5.step"] = Tensor::scalar<int64_t>(1);
  expect_msg(bad, "state.5.step");
  bad = good;
  bad.erase("group.0.lr");
  bad.erase("group.0.num_params");
  for (auto it = bad.begin(); it != bad.end();) it = it->first.rfind("group.", 0) == 0 ? bad.erase(it) : std::next(it);
  expect_msg(bad, "missing keys for group 0");
  bad = good;
  bad["group.0.num_params"] = Tensor::scalar<int64_t>(4);
  expect_msg(bad, "group.0.num_params");
  // The failed loads left the optimizer usable and unchanged.
  opt.load_state_dict(good);
  EXPECT_EQ(opt.state_dict().at("state.0.step").item<int64_t>(), 1);
}
