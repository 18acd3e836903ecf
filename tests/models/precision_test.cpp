// SPDX-License-Identifier: Apache-2.0
// train.precision on whole models, CPU (the emulation, engine/precision.h): a MinkUNet14A and a DeepLabV3
// (ResNet-18) forward under bf16 / f16 stay within a stated relative tolerance of the f32 forward, every parameter
// gets a finite f32 gradient, and SGD steps under bf16 decrease a cross-entropy loss.
//   Tolerances (relative L2 error of the output against f32, same weights and input): bf16 2e-2, f16 4e-3
//   (measured 2026-12-06: MinkUNet14A 3.9e-3 / 4.5e-4 with f32 storage between the sparse convs, 4.2e-3 / 5.1e-4
//   with half activations throughout; MinkUNet34C 4.6e-3 / 5.6e-4, SPVCNN 2.7e-3 / 3.3e-4; DeepLabV3-R18
//   4.9e-3 / 5.6e-4).
//   bf16 keeps 8 significant bits (a rounding is <= 2^-9 relative) and the rounding happens at every GEMM
//   input and output of ~30 layers; f16 keeps 11 bits (2^-12). Measured values are printed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/optim/sgd.h"
#include "engine/precision.h"
#include "engine/rng.h"
#include "models/deeplabv3.h"
#include "models/minkunet.h"
#include "models/registry.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

using leseg::testing::all_finite;
using leseg::testing::tiny_coords;

double rel_l2(const Tensor& a, const Tensor& ref) {
  std::vector<float> x = a.detach().to(DType::f32).to_vector<float>(), r = ref.detach().to(DType::f32).to_vector<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += (double(x[i]) - r[i]) * (double(x[i]) - r[i]), den += double(r[i]) * r[i];
  return std::sqrt(num / std::max(den, 1e-30));
}

SparseTensor tiny_scene(uint64_t seed = 3) {
  Tensor c = tiny_coords(90);
  return SparseTensor(c, Tensor::randn(Shape{c.size(0), 3}, seed));
}

struct Case {
  Precision p;
  double tol;
};

class ModelPrecision : public ::testing::TestWithParam<Case> {};

TEST_P(ModelPrecision, MinkUNet14AForwardNearF32AndF32Gradients) {
  const Case c = GetParam();
  ModelOptions o;
  o.seed = 5;
  Backbone b = create_backbone("MinkUNet14A", o);
  b.module->eval();  // running statistics: the same normalisation in both runs
  Tensor ref = b.minkunet->forward(tiny_scene()).feats();
  Tensor ye;
  {
    PrecisionScope ps(c.p);
    ye = b.minkunet->forward(tiny_scene()).feats();
  }
  b.module->train();
  {
    PrecisionScope ps(c.p);
    Tensor y = b.minkunet->forward(tiny_scene()).feats();
    sum(mul(y, Tensor::randn(y.shape(), 11).to(y.dtype()))).backward();
  }
  // the activations stay half from the first conv on (no cast back to f32 storage between convs)
  EXPECT_EQ(ye.dtype(), c.p == Precision::bf16 ? DType::bf16 : DType::f16);
  const double err = rel_l2(ye, ref);
  std::printf("MinkUNet14A %s forward: relative L2 error %.3g (tolerance %.3g)\n", precision_name(c.p), err, c.tol);
  EXPECT_LT(err, c.tol);
  EXPECT_GT(err, 0.0);  // the rounding is real
  for (const auto& [name, p] : b.module->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
    EXPECT_TRUE(all_finite(p.grad())) << name;
  }
}

// MinkUNet34C and SPVCNN (the other sparse backbones) under bf16 / f16: forward near f32 (same tolerance as
// MinkUNet14A), the activations stay half between the convs (the backbone's output features are in the autocast
// dtype: sparse_cat, pooling and the voxel <-> point transfers take half), every parameter gets a finite f32
// gradient.
TEST_P(ModelPrecision, MinkUNet34CAndSPVCNNHalfActivationsForwardBackward) {
  const Case c = GetParam();
  const DType half = c.p == Precision::bf16 ? DType::bf16 : DType::f16;
  {
    ModelOptions o;
    o.seed = 6;
    Backbone b = create_backbone("MinkUNet34C", o);
    b.module->eval();
    Tensor ref = b.minkunet->forward(tiny_scene()).feats();
    Tensor ye;
    {
      PrecisionScope ps(c.p);
      ye = b.minkunet->forward(tiny_scene()).feats();
    }
    EXPECT_EQ(ye.dtype(), half);
    const double err = rel_l2(ye, ref);
    std::printf("MinkUNet34C %s forward: relative L2 error %.3g (tolerance %.3g)\n", precision_name(c.p), err, c.tol);
    EXPECT_LT(err, c.tol);
    EXPECT_GT(err, 0.0);
    b.module->train();
    {
      PrecisionScope ps(c.p);
      Tensor y = b.minkunet->forward(tiny_scene()).feats();
      sum(mul(y, Tensor::randn(y.shape(), 11).to(y.dtype()))).backward();
    }
    for (const auto& [name, p] : b.module->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
      EXPECT_TRUE(all_finite(p.grad())) << name;
    }
  }
  {
    ModelOptions o;
    o.seed = 7;
    o.in_channels = 4;
    o.voxel_size = 0.1;
    Backbone b = create_backbone("SPVCNN", o);
    leseg::testing::Points in = leseg::testing::tiny_points(90, 4, 0.1);
    b.module->eval();
    Tensor ref = b.spvcnn->forward(in.points, in.batch, in.feats);
    Tensor ye;
    {
      PrecisionScope ps(c.p);
      ye = b.spvcnn->forward(in.points, in.batch, in.feats);
    }
    EXPECT_EQ(ye.dtype(), half);
    const double err = rel_l2(ye, ref);
    std::printf("SPVCNN %s forward: relative L2 error %.3g (tolerance %.3g)\n", precision_name(c.p), err, c.tol);
    EXPECT_LT(err, c.tol);
    EXPECT_GT(err, 0.0);
    b.module->train();
    {
      PrecisionScope ps(c.p);
      Tensor y = b.spvcnn->forward(in.points, in.batch, in.feats);
      sum(mul(y, Tensor::randn(y.shape(), 12).to(y.dtype()))).backward();
    }
    for (const auto& [name, p] : b.module->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
      EXPECT_TRUE(all_finite(p.grad())) << name;
    }
  }
}

TEST_P(ModelPrecision, DeepLabV3ForwardBackwardNearF32) {
  const Case c = GetParam();
  DeepLabV3Config cfg;
  cfg.depth = 18;
  cfg.num_classes = 5;
  cfg.seed = 3;
  DeepLabV3 m(cfg);
  m.eval();
  Generator g(1);
  Tensor img = randn(Shape{2, 3, 48, 64}, g);  // 2 images: train-mode BN of the pooled ASPP branch
  Tensor ref = m.run(img).logits;
  Tensor lo;
  {
    PrecisionScope ps(c.p);
    lo = m.run(img).logits;
  }
  EXPECT_EQ(lo.dtype(), c.p == Precision::bf16 ? DType::bf16 : DType::f16);  // the classifier is a conv: autocast
  const double err = rel_l2(lo, ref);
  std::printf("DeepLabV3-R18 %s forward: relative L2 error %.3g (tolerance %.3g)\n", precision_name(c.p), err, c.tol);
  EXPECT_LT(err, c.tol);
  m.train();
  {
    PrecisionScope ps(c.p);
    Tensor l = m.run(img).logits;
    sum(mul(l.to(DType::f32), Tensor::randn(l.shape(), 4))).backward();
  }
  int64_t n = 0;
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
    EXPECT_TRUE(all_finite(p.grad())) << name;
    ++n;
  }
  EXPECT_GT(n, 50);
}

INSTANTIATE_TEST_SUITE_P(LowPrecision, ModelPrecision,
                         ::testing::Values(Case{Precision::bf16, 2e-2}, Case{Precision::f16, 4e-3}),
                         [](const auto& info) { return std::string(precision_name(info.param.p)); });

// SGD on MinkUNet14A + a linear classifier under bf16: the cross-entropy on fixed labels goes down.
TEST(ModelPrecisionTraining, Bf16StepsDecreaseTheLoss) {
  ModelOptions o;
  o.seed = 7;
  Backbone b = create_backbone("MinkUNet14A", o);
  Generator gen(9);
  Linear head(b.out_channels, 4, true, gen);
  std::vector<Tensor> params;
  for (auto& [n, p] : b.module->named_parameters()) params.push_back(p);
  for (auto& [n, p] : head.named_parameters()) params.push_back(p);
  ParamGroup hyper;
  hyper.lr = 0.05;
  hyper.momentum = 0.9;
  SGD opt(params, hyper);
  SparseTensor x = tiny_scene(4);
  // labels: a function of the input features, so that they can be learned
  std::vector<float> f = x.feats().to_vector<float>();
  std::vector<int64_t> lab(size_t(x.size()));
  for (size_t i = 0; i < lab.size(); ++i) lab[i] = (f[3 * i] > 0 ? 2 : 0) + (f[3 * i + 1] > 0 ? 1 : 0);
  Tensor labels = Tensor::from_vector<int64_t>(lab, Shape{x.size()});
  b.module->train();
  std::vector<double> losses;
  for (int step = 0; step < 12; ++step) {
    PrecisionScope ps(Precision::bf16);
    Tensor logits = head(b.minkunet->forward(x).feats());
    ASSERT_EQ(logits.dtype(), DType::bf16);  // the classifier autocasts
    Tensor loss = cross_entropy(logits, labels);
    ASSERT_EQ(loss.dtype(), DType::f32);  // the fused loss is f32 inside and out
    losses.push_back(loss.item_double());
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  std::printf("bf16 training losses: first %.4f, last %.4f\n", losses.front(), losses.back());
  for (double l : losses) ASSERT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), 0.7 * losses.front());
}


// SparseBatchNorm on bf16/f16 features in training keeps only the half input for its backward (recomputing the batch
// statistics there) and gives the bits of the generic half batch_norm (an f32 copy of the input kept): output,
// input / weight / bias gradients, running buffers and the batch counter.
TEST(ModelPrecisionTraining, SparseBatchNormHalfKeepsHalfInputSameBits) {
  auto bits = [](const Tensor& t) {
    std::vector<uint8_t> b(size_t(t.numel()) * dtype_size(t.dtype()));
    std::memcpy(b.data(), t.data_ptr(), b.size());
    return b;
  };
  for (DType hd : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(hd));
    const int64_t N = 3000, C = 24;
    SparseBatchNorm lean(C, 0.1, DType::f32), ref(C, 0.1, DType::f32);
    for (SparseBatchNorm* m : {&lean, &ref}) {  // non-trivial affine parameters and running buffers
      m->weight.detach().copy_(Tensor::randn(Shape{C}, 1));
      m->bias.detach().copy_(Tensor::randn(Shape{C}, 2));
      m->running_mean.detach().copy_(Tensor::randn(Shape{C}, 3));
    }
    const Tensor x0 = Tensor::randn(Shape{N, C}, 4).to(hd);
    const Tensor g = Tensor::randn(Shape{N, C}, 5).to(hd);
    Tensor xa = x0.detach().requires_grad_(), xb = x0.detach().requires_grad_();
    const size_t base = memory_stats(Device::cpu()).in_use;
    Tensor ya = lean.forward_feats(xa);
    const size_t kept_lean = memory_stats(Device::cpu()).in_use - base;
    Tensor yb = ref.BatchNorm1d::forward(xb);
    const size_t kept_ref = memory_stats(Device::cpu()).in_use - base - kept_lean;
    ASSERT_EQ(ya.dtype(), hd);
    ASSERT_EQ(yb.dtype(), hd);
    EXPECT_EQ(bits(ya), bits(yb));
    ya.backward(g);
    yb.backward(g);
    ASSERT_EQ(xa.grad().dtype(), hd);
    EXPECT_EQ(bits(xa.grad()), bits(xb.grad()));
    EXPECT_EQ(bits(lean.weight.grad()), bits(ref.weight.grad()));
    EXPECT_EQ(bits(lean.bias.grad()), bits(ref.bias.grad()));
    EXPECT_EQ(bits(lean.running_mean), bits(ref.running_mean));
    EXPECT_EQ(bits(lean.running_var), bits(ref.running_var));
    EXPECT_EQ(lean.num_batches_tracked.item_double(), ref.num_batches_tracked.item_double());
    // the generic path keeps the half output and an f32 copy of the input (3 half activations' bytes); the lean one
    // the half output only (its input is the caller's)
    std::printf("SparseBatchNorm %s forward kept: lean %zu bytes, generic %zu bytes (activation %lld bytes)\n",
                dtype_name(hd), kept_lean, kept_ref, (long long)(N * C * 2));
    EXPECT_LT(kept_lean, kept_ref);
    EXPECT_LE(2 * kept_lean, kept_ref);
  }
}

}  // namespace
}  // namespace leseg::models
