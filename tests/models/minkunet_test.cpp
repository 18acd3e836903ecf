// SPDX-License-Identifier: Apache-2.0
// MinkUNet: forward/backward on a tiny two-scene input (shapes, finite values, a non-zero gradient for every
// parameter), output on the input coordinates (the transposed convs restore the fine sets), determinism,
// BN momenta placement, stem kernel option, input checks.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "models/minkunet.h"
#include "models/registry.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

using leseg::testing::all_finite;
using leseg::testing::max_abs;
using leseg::testing::tiny_coords;

SparseTensor tiny_input(int64_t per_batch, int64_t channels, DType dt = DType::f32, uint64_t seed = 3) {
  Tensor c = tiny_coords(per_batch);
  Tensor f = Tensor::randn(Shape{c.size(0), channels}, seed, 0, dt);
  return SparseTensor(c, f);
}

// Loss = sum(out * R) with a fixed random R, so every output channel carries gradient.
Tensor weighted_sum(const Tensor& out, uint64_t seed = 11) {
  Tensor r = Tensor::randn(out.shape(), seed, 0, out.dtype());
  return sum(mul(out, r));
}

void check_forward_backward(const std::string& name, int64_t per_batch) {
  ModelOptions o;
  o.seed = 5;
  Backbone b = create_backbone(name, o);
  ASSERT_TRUE(b.minkunet);
  SparseTensor x = tiny_input(per_batch, 3);
  std::vector<StageTrace> trace;
  SparseTensor y = b.minkunet->forward(x, &trace);
  ASSERT_EQ(y.size(), x.size()) << name;
  ASSERT_EQ(y.channels(), b.out_channels) << name;
  EXPECT_EQ(y.stride(), 1);
  // The last transposed conv lands on the input's own coordinate set (same rows, same order).
  EXPECT_EQ(y.coordinate_set(), x.coordinate_set()) << name;
  EXPECT_EQ(y.coords().to_vector<int32_t>(), x.coords().to_vector<int32_t>());
  EXPECT_TRUE(all_finite(y.feats())) << name;
  EXPECT_GT(max_abs(y.feats()), 1e-3) << name;
  // Stage strides go 1, 2, 4, 8, 16 then back to 1; every stage keeps >= 3 rows (BN with 2 rows has no input grad).
  std::vector<int32_t> strides;
  for (const auto& t : trace) {
    strides.push_back(t.tensor_stride);
    EXPECT_GE(t.rows, 3) << name << " " << t.name;
  }
  EXPECT_EQ(strides, (std::vector<int32_t>{1, 2, 4, 8, 16, 8, 8, 4, 4, 2, 2, 1, 1}));
  // Each transposed conv lands on the encoder's set of its stride: same row counts going up as going down.
  std::map<int32_t, int64_t> down_rows;
  for (size_t i = 0; i < 4; ++i) down_rows[trace[i].tensor_stride] = trace[i].rows;
  for (size_t i = 5; i < trace.size(); ++i)
    EXPECT_EQ(trace[i].rows, down_rows.at(trace[i].tensor_stride)) << name << " " << trace[i].name;
  weighted_sum(y.feats()).backward();
  int64_t checked = 0;
  for (const auto& [pname, p] : b.module->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name << ": no gradient for " << pname;
    EXPECT_TRUE(all_finite(p.grad())) << name << ": " << pname;
    EXPECT_GT(max_abs(p.grad()), 0.0) << name << ": zero gradient for " << pname;
    ++checked;
  }
  EXPECT_GT(checked, 40) << name;
}

TEST(MinkUNet, ForwardBackward14A) { check_forward_backward("MinkUNet14A", 90); }
TEST(MinkUNet, ForwardBackward18B) { check_forward_backward("MinkUNet18B", 90); }
TEST(MinkUNet, ForwardBackward34C) { check_forward_backward("MinkUNet34C", 90); }

TEST(MinkUNet, ParameterNamesFollowMinkowskiEngine) {
  Backbone b = create_backbone("MinkUNet14A");
  std::vector<std::string> names;
  for (const auto& [n, _] : b.module->named_parameters()) names.push_back(n);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("conv0p1s1.kernel"));
  EXPECT_TRUE(has("bn0.weight"));
  EXPECT_TRUE(has("conv4p8s2.kernel"));
  EXPECT_TRUE(has("block1.0.conv1.kernel"));
  EXPECT_TRUE(has("block2.0.downsample.1.weight"));
  EXPECT_TRUE(has("convtr7p2s2.kernel"));
  EXPECT_TRUE(has("bntr7.bias"));
  EXPECT_TRUE(has("block8.0.norm2.weight"));
  EXPECT_FALSE(has("conv0p1s1.bias"));  // ME convs have no bias
  // Shapes: stem (27, 3, 32), down (8, C, C), transposed (8, 256, 128)
  for (const auto& [n, p] : b.module->named_parameters()) {
    if (n == "conv0p1s1.kernel") EXPECT_EQ(p.shape(), (Shape{27, 3, 32}));
    if (n == "conv1p1s2.kernel") EXPECT_EQ(p.shape(), (Shape{8, 32, 32}));
    if (n == "convtr4p16s2.kernel") EXPECT_EQ(p.shape(), (Shape{8, 256, 128}));
    if (n == "block5.0.conv1.kernel") EXPECT_EQ(p.shape(), (Shape{27, 128 + 128, 128}));
    if (n == "block8.0.conv1.kernel") EXPECT_EQ(p.shape(), (Shape{27, 96 + 32, 96}));
  }
}

TEST(MinkUNet, BlockOneHasNoDownsampleWhenChannelsKept) {
  // block1: inplanes 32 -> planes 32: no 1x1 downsample; block2: 32 -> 64: downsample.
  Backbone b = create_backbone("MinkUNet14A");
  bool ds1 = false, ds2 = false;
  for (const auto& [n, _] : b.module->named_parameters()) {
    ds1 |= n.rfind("block1.0.downsample", 0) == 0;
    ds2 |= n.rfind("block2.0.downsample", 0) == 0;
  }
  EXPECT_FALSE(ds1);
  EXPECT_TRUE(ds2);
}

TEST(MinkUNet, BatchNormMomenta) {
  ModelOptions o;
  o.bn_momentum = 0.05;
  o.block_bn_momentum = 0.1;
  Backbone b = create_backbone("MinkUNet14A", o);
  // Walk the tree and collect (path, momentum) of every BN.
  std::vector<std::pair<std::string, double>> bns;
  std::function<void(const std::string&, const Module&)> walk = [&](const std::string& path, const Module& m) {
    if (auto* bn = dynamic_cast<const BatchNorm1d*>(&m)) bns.emplace_back(path, bn->momentum);
    for (const auto& [n, c] : m.named_children()) walk(path.empty() ? n : path + "." + n, *c);
  };
  walk("", *b.module);
  int outer = 0, inner = 0;
  for (const auto& [path, mom] : bns) {
    const bool in_block = path.rfind("block", 0) == 0;
    EXPECT_DOUBLE_EQ(mom, in_block ? 0.1 : 0.05) << path;
    (in_block ? inner : outer)++;
  }
  EXPECT_EQ(outer, 9);  // bn0, bn1..bn4, bntr4..bntr7
  EXPECT_GT(inner, 16);
}

TEST(MinkUNet, RunningStatisticsMoveWithStemMomentum) {
  // Training-mode outputs do not depend on the momenta, so after one step from running_mean = 0 the stem /
  // stride / transposed BNs of a model with bn_momentum 0.1 hold exactly twice the running means of one with
  // 0.05, while the block BNs (0.1 in both) agree.
  auto run = [](double m) {
    ModelOptions o;
    o.bn_momentum = m;
    Backbone b = create_backbone("MinkUNet14A", o);
    b.minkunet->forward(tiny_input(60, 3));
    std::map<std::string, std::vector<double>> rm;
    for (const auto& [n, buf] : b.module->named_buffers())
      if (n.find("running_mean") != std::string::npos) rm[n] = buf.to(DType::f64).to_vector<double>();
    return rm;
  };
  auto a = run(0.05), b = run(0.1);
  ASSERT_EQ(a.size(), b.size());
  int outer = 0;
  for (const auto& [n, va] : a) {
    const auto& vb = b.at(n);
    const bool in_block = n.rfind("block", 0) == 0;
    double mx = 0;
    for (size_t i = 0; i < va.size(); ++i) {
      const double want = in_block ? va[i] : 2 * va[i];
      EXPECT_NEAR(vb[i], want, 1e-6 + 1e-5 * std::abs(want)) << n << "[" << i << "]";
      mx = std::max(mx, std::abs(va[i]));
    }
    EXPECT_GT(mx, 0.0) << n;
    outer += !in_block;
  }
  EXPECT_EQ(outer, 9);
}

TEST(MinkUNet, Deterministic) {
  auto run = [](uint64_t seed) {
    ModelOptions o;
    o.seed = seed;
    Backbone b = create_backbone("MinkUNet14A", o);
    SparseTensor x = tiny_input(70, 3);
    SparseTensor y = b.minkunet->forward(x);
    weighted_sum(y.feats()).backward();
    std::vector<float> out = y.feats().to_vector<float>();
    for (const auto& p : b.module->parameters()) {
      auto g = p.grad().to_vector<float>();
      out.insert(out.end(), g.begin(), g.end());
    }
    return out;
  };
  const auto a = run(7), b = run(7), c = run(8);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "two identical runs differ";
  EXPECT_FALSE(a == c) << "a different init seed gave identical results";
}

TEST(MinkUNet, StemKernelOption) {
  ModelOptions o;
  o.stem_kernel = 5;
  Backbone b = create_backbone("MinkUNet14A", o);
  for (const auto& [n, p] : b.module->named_parameters())
    if (n == "conv0p1s1.kernel") EXPECT_EQ(p.shape(), (Shape{125, 3, 32}));
  SparseTensor y = b.minkunet->forward(tiny_input(60, 3));
  EXPECT_EQ(y.channels(), 96);
  o.stem_kernel = 4;
  EXPECT_THROW(create_backbone("MinkUNet14A", o), Error);
}

TEST(MinkUNet, EvalModeUsesRunningStatistics) {
  Backbone b = create_backbone("MinkUNet14A");
  SparseTensor x = tiny_input(60, 3);
  b.module->eval();
  NoGradGuard ng;
  SparseTensor y1 = b.minkunet->forward(x);
  SparseTensor y2 = b.minkunet->forward(x);
  EXPECT_EQ(y1.feats().to_vector<float>(), y2.feats().to_vector<float>());
  EXPECT_TRUE(all_finite(y1.feats()));
}

TEST(MinkUNet, InputChecks) {
  Backbone b = create_backbone("MinkUNet14A");
  SparseTensor bad = tiny_input(40, 4);
  try {
    b.minkunet->forward(bad);
    FAIL() << "4-channel input accepted by a 3-channel model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 3 input channels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(b.minkunet->forward(tiny_input(40, 3, DType::f64)), Error);
}

TEST(MinkUNet, Float64Forward) {
  ModelOptions o;
  o.dtype = DType::f64;
  Backbone b = create_backbone("MinkUNet14A", o);
  SparseTensor y = b.minkunet->forward(tiny_input(50, 3, DType::f64));
  EXPECT_EQ(y.feats().dtype(), DType::f64);
  EXPECT_TRUE(all_finite(y.feats()));
}

}  // namespace
}  // namespace leseg::models
