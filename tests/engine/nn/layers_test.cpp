// SPDX-License-Identifier: Apache-2.0
// Layers and initialisers: PyTorch init bounds and determinism, Linear vs a serial loop (forward and
// gradients), LayerNorm / BatchNorm1d against their formulas incl. running statistics and
// num_batches_tracked, Dropout, MLP structure and names.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/ops/reduce.h"

using namespace leseg;

TEST(Init, BoundsFansAndDeterminism) {
  Generator g1(5), g2(5);
  Tensor a = Tensor::empty(Shape{64, 50}), b = Tensor::empty(Shape{64, 50});
  init::kaiming_uniform_(a, g1, std::sqrt(5.0));
  init::kaiming_uniform_(b, g2, std::sqrt(5.0));
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  double bound = 1.0 / std::sqrt(50.0), mx = 0, s2 = 0;
  for (float v : a.to_vector<float>()) {
    EXPECT_LE(std::abs(v), bound);
    mx = std::max(mx, double(std::abs(v)));
    s2 += double(v) * v;
  }
  EXPECT_GT(mx, 0.9 * bound);  // fills the range
  EXPECT_NEAR(s2 / 3200, bound * bound / 3, 0.15 * bound * bound / 3);  // variance of U(-b, b)
  init::Fans f = init::compute_fans(Shape{8, 4, 3, 3});
  EXPECT_EQ(f.in, 36);
  EXPECT_EQ(f.out, 72);
  Tensor n = Tensor::empty(Shape{200, 100});
  Generator g3(1);
  init::kaiming_normal_(n, g3, 0.0, init::FanMode::fan_in, init::Nonlinearity::relu);
  double var = 0;
  for (float v : n.to_vector<float>()) var += double(v) * v;
  EXPECT_NEAR(var / 20000, 2.0 / 100, 0.1 * 2.0 / 100);
  Tensor x = Tensor::empty(Shape{30, 20});
  init::xavier_uniform_(x, g3);
  for (float v : x.to_vector<float>()) EXPECT_LE(std::abs(v), std::sqrt(6.0 / 50));
  init::ones_(x);
  EXPECT_EQ(x.to_vector<float>()[7], 1.f);
  Tensor idx = Tensor::zeros(Shape{2}, DType::i64);
  EXPECT_THROW(init::normal_(idx, 0, 1, g3), Error);
}

TEST(Linear, ForwardAndGradientsMatchSerialLoop) {
  Generator g(3);
  Linear lin(5, 3, true, g, DType::f64);
  EXPECT_EQ(lin.named_parameters()[0].first, "weight");
  EXPECT_EQ(lin.weight.shape(), (Shape{3, 5}));
  for (double b : lin.bias.to_vector<double>()) EXPECT_LE(std::abs(b), 1.0 / std::sqrt(5.0));
  Tensor x = Tensor::randn(Shape{7, 5}, 9, 0, DType::f64);
  Tensor y = lin(x);
  ASSERT_EQ(y.shape(), (Shape{7, 3}));
  auto W = lin.weight.to_vector<double>(), B = lin.bias.to_vector<double>(), X = x.to_vector<double>();
  auto Y = y.to_vector<double>();
  for (int i = 0; i < 7; ++i)
    for (int o = 0; o < 3; ++o) {
      double r = B[size_t(o)];
      for (int k = 0; k < 5; ++k) r += X[size_t(i * 5 + k)] * W[size_t(o * 5 + k)];
      EXPECT_NEAR(Y[size_t(i * 3 + o)], r, 1e-12);
    }
  sum(y).backward();
  auto gW = lin.weight.grad().to_vector<double>();
  auto gB = lin.bias.grad().to_vector<double>();
  for (int o = 0; o < 3; ++o) {
    EXPECT_NEAR(gB[size_t(o)], 7.0, 1e-12);
    for (int k = 0; k < 5; ++k) {
      double r = 0;
      for (int i = 0; i < 7; ++i) r += X[size_t(i * 5 + k)];
      EXPECT_NEAR(gW[size_t(o * 5 + k)], r, 1e-12);
    }
  }
  EXPECT_THROW(lin(Tensor::zeros(Shape{2, 4}, DType::f64)), Error);
}

TEST(BatchNorm1d, TrainUpdatesRunningStatsEvalUsesThem) {
  BatchNorm1d bn(2, 1e-5, 0.1, true, DType::f64);
  EXPECT_EQ(bn.named_buffers().size(), 3u);
  // Channel 0: {1, 3, 5, 7} (mean 4, biased var 5, unbiased 20/3); channel 1: {2, 2, 2, 6} (mean 3, var 3, unbiased 4).
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 2, 5, 2, 7, 6}, Shape{4, 2});
  Tensor y = bn(x);
  auto Y = y.to_vector<double>();
  EXPECT_NEAR(Y[0], (1 - 4) / std::sqrt(5 + 1e-5), 1e-9);
  EXPECT_NEAR(Y[7], (6 - 3) / std::sqrt(3 + 1e-5), 1e-9);
  auto rm = bn.running_mean.to_vector<double>(), rv = bn.running_var.to_vector<double>();
  EXPECT_NEAR(rm[0], 0.4, 1e-12);
  EXPECT_NEAR(rm[1], 0.3, 1e-12);
  EXPECT_NEAR(rv[0], 0.9 + 0.1 * 20.0 / 3, 1e-12);
  EXPECT_NEAR(rv[1], 0.9 + 0.1 * 4.0, 1e-12);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  // Loading a state dict resets the counter mirror.
  StateDict sd = bn.state_dict();
  sd["num_batches_tracked"] = Tensor::scalar<int64_t>(40);
  BatchNorm1d bn2(2, 1e-5, 0.1, true, DType::f64);
  bn2.load_state_dict(sd);
  bn2(x);
  EXPECT_EQ(bn2.num_batches_tracked.item<int64_t>(), 41);
  bn.eval();
  rm = bn.running_mean.to_vector<double>();
  rv = bn.running_var.to_vector<double>();
  Tensor ye = bn(x);
  EXPECT_NEAR(ye.to_vector<double>()[0], (1 - rm[0]) / std::sqrt(rv[0] + 1e-5), 1e-9);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);  // unchanged in eval
}

TEST(LayerNormAndDropout, Basics) {
  LayerNorm ln(4, 1e-5, true, DType::f64);
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, Shape{1, 4});
  auto y = ln(x).to_vector<double>();
  double var = 1.25;
  EXPECT_NEAR(y[0], -1.5 / std::sqrt(var + 1e-5), 1e-9);
  EXPECT_NEAR(y[3], 1.5 / std::sqrt(var + 1e-5), 1e-9);
  Generator g(11);
  Dropout d(0.5, &g);
  Tensor ones = Tensor::ones(Shape{1000});
  auto v = d(ones).to_vector<float>();
  int zeros = 0;
  for (float e : v) {
    EXPECT_TRUE(e == 0.f || e == 2.f);
    zeros += e == 0.f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  d.eval();
  EXPECT_EQ(d(ones).to_vector<float>(), std::vector<float>(1000, 1.f));
}

TEST(MLP, StructureNamesAndForward) {
  Generator g(0);
  MLPOptions o;
  o.norm = Norm::batch_norm;
  o.dropout = 0.1;
  MLP m({2, 8, 8, 3}, g, o);
  // Linear, BN, ReLU, Dropout, Linear, BN, ReLU, Dropout, Linear
  EXPECT_EQ(m.size(), 9u);
  std::vector<std::string> names;
  for (auto& [n, t] : m.named_parameters()) names.push_back(n);
  EXPECT_EQ(names.front(), "0.weight");
  EXPECT_EQ(names.back(), "8.bias");
  EXPECT_EQ(m.named_buffers()[0].first, "1.running_mean");
  Tensor y = m(Tensor::randn(Shape{5, 2}, 1));
  EXPECT_EQ(y.shape(), (Shape{5, 3}));
  MLP plain({2, 4, 1}, g, MLPOptions{Activation::gelu});
  EXPECT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[1]->type_name(), "GELU");
}
