// SPDX-License-Identifier: Apache-2.0
// Transformer encoder over packed sets: tokens of one set never see another (perturbing set B leaves set A's
// outputs unchanged; a packed run equals separate runs), f64 gradient check against central differences on
// the tokens, the positions and the parameters, input checks.
#include <gtest/gtest.h>

#include <set>

#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "models/transformer.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

using leseg::testing::max_abs;

TransformerConfig small(DType dt = DType::f32) {
  TransformerConfig c;
  c.dim = 16;
  c.heads = 2;
  c.layers = 2;
  c.pos_hidden = 8;
  c.dtype = dt;
  c.seed = 4;
  return c;
}

Tensor offsets_of(std::vector<int64_t> o) { return Tensor::from_vector(o, Shape{int64_t(o.size())}); }

TEST(Transformer, SetsDoNotSeeEachOther) {
  TransformerEncoder enc(small());
  const int64_t na = 5, nb = 7, nc = 3;
  Tensor x = Tensor::randn(Shape{na + nb + nc, 16}, 1);
  Tensor xyz = Tensor::randn(Shape{na + nb + nc, 3}, 2);
  Tensor off = offsets_of({0, na, na + nb, na + nb + nc});
  Tensor y = enc.forward(x, xyz, off);
  ASSERT_EQ(y.shape(), (Shape{na + nb + nc, 16}));
  // Perturb set B (rows na .. na+nb) in both tokens and positions.
  auto xv = x.to_vector<float>();
  auto pv = xyz.to_vector<float>();
  for (int64_t i = na * 16; i < (na + nb) * 16; ++i) xv[size_t(i)] += 3.0f;
  for (int64_t i = na * 3; i < (na + nb) * 3; ++i) pv[size_t(i)] -= 1.5f;
  Tensor y2 = enc.forward(Tensor::from_vector(xv, x.shape()), Tensor::from_vector(pv, xyz.shape()), off);
  const auto a = y.to_vector<float>(), b = y2.to_vector<float>();
  double changed_b = 0;
  for (int64_t r = 0; r < na + nb + nc; ++r)
    for (int64_t c = 0; c < 16; ++c) {
      const size_t i = size_t(r * 16 + c);
      if (r >= na && r < na + nb) {
        changed_b = std::max(changed_b, double(std::abs(a[i] - b[i])));
      } else {
        ASSERT_NEAR(a[i], b[i], 1e-6) << "row " << r << " (outside set B) changed";
      }
    }
  EXPECT_GT(changed_b, 1e-2) << "set B's own outputs did not change";
}

TEST(Transformer, PackedEqualsSeparate) {
  TransformerEncoder enc(small());
  Tensor x = Tensor::randn(Shape{11, 16}, 3);
  Tensor xyz = Tensor::randn(Shape{11, 3}, 4);
  Tensor packed = enc.forward(x, xyz, offsets_of({0, 4, 11}));
  Tensor first = enc.forward(x.narrow(0, 4), xyz.narrow(0, 4), offsets_of({0, 4}));
  Tensor second = enc.forward(x.narrow(4, 7), xyz.narrow(4, 7), offsets_of({0, 7}));
  const auto p = packed.to_vector<float>();
  auto s = first.to_vector<float>();
  const auto s2 = second.to_vector<float>();
  s.insert(s.end(), s2.begin(), s2.end());
  ASSERT_EQ(p.size(), s.size());
  for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], s[i], 1e-5 + 1e-5 * std::abs(s[i])) << i;
  EXPECT_GT(max_abs(packed), 0.1);
}

TEST(Transformer, ParameterNamesAndDefaults) {
  TransformerConfig c;  // defaults: 512, 8 heads, 3 layers
  TransformerEncoder enc(c);
  std::set<std::string> names;
  int64_t n = 0;
  for (const auto& [k, p] : enc.named_parameters()) {
    names.insert(k);
    n += p.numel();
  }
  for (const char* k : {"pos_mlp.0.weight", "pos_mlp.2.bias", "layers.0.norm1.weight", "layers.0.qkv.weight",
                        "layers.2.proj.bias", "layers.1.mlp.0.weight", "layers.1.mlp.2.weight", "norm.bias"})
    EXPECT_TRUE(names.count(k)) << k;
  // Per layer: 2 LN (2·2·512) + qkv (512·1536 + 1536) + proj (512·512 + 512) + MLP (512·2048 + 2048 + 2048·512 + 512);
  // pos MLP 3·64 + 64 + 64·512 + 512; final LN 2·512.
  const int64_t d = 512;
  const int64_t layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d + 4 * d * d + d);
  EXPECT_EQ(n, 3 * layer + (3 * 64 + 64 + 64 * d + d) + 2 * d);
}

TEST(Transformer, GradcheckFloat64) {
  TransformerConfig c;
  c.dim = 8;
  c.heads = 2;
  c.layers = 1;
  c.mlp_ratio = 2;
  c.pos_hidden = 4;
  c.dtype = DType::f64;
  c.seed = 9;
  TransformerEncoder enc(c);
  Tensor x = Tensor::randn(Shape{5, 8}, 5, 0, DType::f64);
  Tensor xyz = Tensor::randn(Shape{5, 3}, 6, 0, DType::f64);
  Tensor off = offsets_of({0, 2, 5});
  Tensor r = Tensor::randn(Shape{5, 8}, 7, 0, DType::f64);
  auto loss = [&](const Tensor& xi, const Tensor& pi) { return sum(mul(enc.forward(xi, pi, off), r)).item<double>(); };
  x.requires_grad_(true);
  xyz.requires_grad_(true);
  sum(mul(enc.forward(x, xyz, off), r)).backward();
  const double eps = 1e-6;
  int compared = 0;
  // Tokens and positions.
  for (Tensor* t : {&x, &xyz}) {
    auto v = t->detach().to_vector<double>();
    const auto g = t->grad().to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) {
      auto plus = v, minus = v;
      plus[i] += eps;
      minus[i] -= eps;
      const bool is_x = t == &x;
      const Tensor tp = Tensor::from_vector(plus, t->shape()), tm = Tensor::from_vector(minus, t->shape());
      const double fd = (is_x ? loss(tp, xyz.detach()) - loss(tm, xyz.detach())
                              : loss(x.detach(), tp) - loss(x.detach(), tm)) /
                        (2 * eps);
      ASSERT_NEAR(g[i], fd, 1e-6 + 1e-5 * std::abs(fd)) << (is_x ? "x[" : "xyz[") << i << "]";
      ++compared;
    }
  }
  // A few entries of every parameter (first, middle, last), perturbed in place.
  for (auto& [name, p] : enc.named_parameters()) {
    const auto g = p.grad().to_vector<double>();
    const int64_t n = p.numel();
    for (int64_t i : {int64_t(0), n / 2, n - 1}) {
      double* data = p.data<double>();
      const double keep = data[i];
      NoGradGuard ng;
      data[i] = keep + eps;
      const double lp = loss(x.detach(), xyz.detach());
      data[i] = keep - eps;
      const double lm = loss(x.detach(), xyz.detach());
      data[i] = keep;
      const double fd = (lp - lm) / (2 * eps);
      ASSERT_NEAR(g[size_t(i)], fd, 1e-6 + 1e-5 * std::abs(fd)) << name << "[" << i << "]";
      ++compared;
    }
  }
  EXPECT_GT(compared, 60);
  EXPECT_GT(max_abs(x.grad()), 1e-3);
}

TEST(Transformer, InputChecks) {
  TransformerEncoder enc(small());
  Tensor x = Tensor::randn(Shape{6, 16}, 1);
  EXPECT_THROW(enc.forward(x, Tensor(), offsets_of({0, 5})), Error);     // offsets end at 5, not 6
  EXPECT_THROW(enc.forward(x, Tensor(), offsets_of({0, 4, 3, 6})), Error);  // decreasing
  EXPECT_THROW(enc.forward(Tensor::randn(Shape{6, 8}, 1), Tensor(), offsets_of({0, 6})), Error);
  EXPECT_THROW(enc.forward(x, Tensor::randn(Shape{5, 3}, 1), offsets_of({0, 6})), Error);
  TransformerConfig bad = small();
  bad.heads = 3;
  EXPECT_THROW(TransformerEncoder{bad}, Error);
  // i32 offsets and no positions are fine
  Tensor y = enc.forward(x, Tensor(), Tensor::from_vector(std::vector<int32_t>{0, 2, 6}, Shape{3}));
  EXPECT_EQ(y.shape(), (Shape{6, 16}));
}

}  // namespace
}  // namespace leseg::models

namespace leseg::models {
namespace {

// HICL Eq. 3 block: residual attention + linear, identity at initialisation (out == tokens, so the transformer's
// logits equal the 3D model's), no positional / norm parameters; after a change of its zero-initialised output
// weights it is no longer the identity and its sets stay independent.
TEST(Transformer, Eq3BlockIsIdentityAtInit) {
  TransformerConfig c = small();
  c.block = TransformerBlockKind::Eq3;
  TransformerEncoder enc(c);
  std::set<std::string> names;
  for (auto& [n, p] : enc.named_parameters()) names.insert(n);
  EXPECT_TRUE(names.count("layers.0.qkv.weight") && names.count("layers.0.proj.weight") &&
              names.count("layers.1.linear.weight"));
  for (auto& n : names) {
    EXPECT_EQ(n.find("norm"), std::string::npos) << n;
    EXPECT_EQ(n.find("pos_mlp"), std::string::npos) << n;
  }
  Tensor x = Tensor::randn(Shape{9, 16}, 1), xyz = Tensor::randn(Shape{9, 3}, 2);
  Tensor off = offsets_of({0, 4, 9});
  EXPECT_EQ(max_abs(sub(enc.forward(x, xyz, off), x)), 0.0);
  for (auto& [n, p] : enc.named_parameters())
    if (n.find("proj.weight") != std::string::npos) p.fill_(0.05);
  Tensor y = enc.forward(x, xyz, off);
  EXPECT_GT(max_abs(sub(y, x)), 1e-3);
  // set independence still holds: perturb set 1 (rows 4..8), set 0 unchanged
  auto xv = x.to_vector<float>();
  for (int64_t i = 4 * 16; i < 9 * 16; ++i) xv[size_t(i)] += 2.0f;
  Tensor y2 = enc.forward(Tensor::from_vector(xv, x.shape()), xyz, off);
  auto a = y.to_vector<float>(), b = y2.to_vector<float>();
  for (int64_t i = 0; i < 4 * 16; ++i) ASSERT_NEAR(a[size_t(i)], b[size_t(i)], 1e-6);
}

}  // namespace
}  // namespace leseg::models
