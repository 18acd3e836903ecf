// SPDX-License-Identifier: Apache-2.0
// Heads: text logits against a serial loop (unit-norm rows, temperature, feature normalisation), the text
// buffer is never trained, projection / MLP head shapes and bias option.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "models/heads.h"
#include "models/sparse_blocks.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

TEST(TextLogitHead, MatchesSerialLoop) {
  const int64_t N = 7, K = 5, D = 6;
  Tensor f = Tensor::randn(Shape{N, D}, 1, 0, DType::f64);
  Tensor t = Tensor::randn(Shape{K, D}, 2, 0, DType::f64);
  for (bool norm : {false, true})
    for (double temp : {1.0, 0.07}) {
      TextLogitOptions o;
      o.temperature = temp;
      o.normalize_features = norm;
      TextLogitHead head(t, o);
      Tensor z = head.forward(f);
      ASSERT_EQ(z.shape(), (Shape{N, K}));
      const auto fv = f.to_vector<double>(), tv = t.to_vector<double>(), zv = z.to_vector<double>();
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < K; ++k) {
          double dot = 0, nf = 0, nt = 0;
          for (int64_t d = 0; d < D; ++d) {
            dot += fv[i * D + d] * tv[k * D + d];
            nf += fv[i * D + d] * fv[i * D + d];
            nt += tv[k * D + d] * tv[k * D + d];
          }
          double want = dot / std::sqrt(nt);
          if (norm) want /= std::sqrt(nf);
          want /= temp;
          ASSERT_NEAR(zv[i * K + k], want, 1e-12 + 1e-12 * std::abs(want)) << i << "," << k;
        }
    }
  // Buffer rows are unit norm.
  TextLogitHead head(t);
  const auto tb = head.text_embeddings().to_vector<double>();
  for (int64_t k = 0; k < K; ++k) {
    double n = 0;
    for (int64_t d = 0; d < D; ++d) n += tb[k * D + d] * tb[k * D + d];
    EXPECT_NEAR(n, 1.0, 1e-12);
  }
}

TEST(TextLogitHead, GradientIntoFeaturesOnly) {
  Tensor t = Tensor::randn(Shape{4, 8}, 3);
  TextLogitHead head(t);
  EXPECT_TRUE(head.parameters().empty());
  EXPECT_EQ(head.named_buffers().size(), 1u);
  Tensor f = Tensor::randn(Shape{6, 8}, 4);
  f.requires_grad_(true);
  sum(head.forward(f)).backward();
  ASSERT_TRUE(f.grad().defined());
  // d/df_i sum_k f_i·T_k = sum_k T_k (T unit rows)
  const auto g = f.grad().to_vector<float>();
  const auto tb = head.text_embeddings().to_vector<float>();
  for (int64_t d = 0; d < 8; ++d) {
    double want = 0;
    for (int64_t k = 0; k < 4; ++k) want += tb[k * 8 + d];
    for (int64_t i = 0; i < 6; ++i) ASSERT_NEAR(g[i * 8 + d], want, 1e-5);
  }
  EXPECT_FALSE(head.text_embeddings().requires_grad());
}

TEST(TextLogitHead, SetAndChecks) {
  TextLogitHead head(Tensor::randn(Shape{3, 4}, 5));
  head.set_text_embeddings(Tensor::full(Shape{3, 4}, 2.0));
  for (float v : head.text_embeddings().to_vector<float>()) EXPECT_FLOAT_EQ(v, 0.5f);
  EXPECT_THROW(head.set_text_embeddings(Tensor::ones(Shape{2, 4})), Error);
  EXPECT_THROW(head.forward(Tensor::ones(Shape{2, 5})), Error);
  EXPECT_THROW(TextLogitHead(Tensor::ones(Shape{4})), Error);
  head.options.temperature = 0;
  EXPECT_THROW(head.forward(Tensor::ones(Shape{2, 4})), Error);
}

TEST(ProjectionHead, ShapesAndBias) {
  Generator g(1);
  ProjectionHead with(96, 512, true, g), without(96, 512, false, g);
  EXPECT_EQ(parameter_count(with), 96 * 512 + 512);
  EXPECT_EQ(parameter_count(without), 96 * 512);
  Tensor f = Tensor::randn(Shape{10, 96}, 2);
  EXPECT_EQ(with.forward(f).shape(), (Shape{10, 512}));
  EXPECT_THROW(with.forward(Tensor::randn(Shape{10, 95}, 2)), Error);
  MLPHead mlp(96, 96, 32, g);
  EXPECT_EQ(mlp.forward(f).shape(), (Shape{10, 32}));
}

TEST(SegmentationHeads, OptionalHeadsAndNames) {
  SegmentationHeadsConfig c;
  c.in = 96;
  c.num_classes = 20;
  c.text_bias = false;
  SegmentationHeads h(c);
  std::vector<std::string> names;
  for (const auto& [n, _] : h.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"final.linear.weight", "local_feature.linear.weight",
                                             "local_feature.linear.bias", "classifier.linear.weight",
                                             "classifier.linear.bias"}));
  Tensor f = Tensor::randn(Shape{4, 96}, 1);
  EXPECT_EQ(h.text(f).shape(), (Shape{4, 512}));
  EXPECT_EQ(h.local(f).shape(), (Shape{4, 512}));
  EXPECT_EQ(h.classify(f).shape(), (Shape{4, 20}));
  c.num_classes = 0;
  c.local_dim = 0;
  SegmentationHeads t(c);
  EXPECT_THROW(t.classify(f), Error);
  EXPECT_THROW(t.local(f), Error);
  EXPECT_EQ(t.text(f).shape(), (Shape{4, 512}));
}

}  // namespace
}  // namespace leseg::models
