// SPDX-License-Identifier: Apache-2.0
// CNS components: SAM-mask refinement vs a serial loop, transfer to points, label-source sampling,
// latent-space consistency (value, gradients, frozen SAM side).
#include "train/components/cns.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "gradcheck.h"

using namespace leseg;
using namespace leseg::train::cns;

TEST(CnsRefine, MaskModeMatchesSerialLoop) {
  const int64_t H = 9, W = 13, C = 6;
  std::vector<int32_t> lab(H * W), mask(H * W);
  uint64_t s = 4242;
  auto next = [&](uint64_t m) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return (s >> 33) % m; };
  for (int64_t i = 0; i < H * W; ++i) {
    lab[i] = int32_t(next(C + 1)) - 1;
    mask[i] = (i % W) < 3 ? -1 : int32_t(1000 + 7 * ((i / W) / 3 * 4 + (i % W) / 4));  // blocks, left strip none
  }
  mask[20] = 5000;  // a one-pixel mask
  lab[20] = -1;     // ...with no valid vote
  Tensor L = Tensor::from_vector(lab, Shape{H, W}), M = Tensor::from_vector(mask, Shape{H, W});
  Tensor R = refine_by_masks(L, M, C);
  EXPECT_EQ(R.shape(), (Shape{H, W}));
  std::vector<int64_t> out = R.to_vector<int64_t>();
  std::map<int32_t, std::vector<int64_t>> hist;
  for (int64_t i = 0; i < H * W; ++i)
    if (mask[i] >= 0) {
      auto& h = hist[mask[i]];
      h.resize(C, 0);
      if (lab[i] >= 0) ++h[lab[i]];
    }
  int changed = 0;
  for (int64_t i = 0; i < H * W; ++i) {
    int64_t ref = lab[i];
    if (mask[i] >= 0) {
      int64_t best = -1, bc = 0;
      for (int64_t c = 0; c < C; ++c)
        if (hist[mask[i]][c] > bc) { bc = hist[mask[i]][c]; best = c; }
      ref = best;
    }
    EXPECT_EQ(out[i], ref) << "pixel " << i;
    changed += out[i] != lab[i];
  }
  EXPECT_GT(changed, 20);
  EXPECT_EQ(out[20], -1);
  EXPECT_THROW(refine_by_masks(L, M, 3), Error);                         // labels >= 3 classes
  EXPECT_THROW(refine_by_masks(L, M.reshape(Shape{W, H}), C), Error);    // shapes differ
}

TEST(CnsRefine, TransferToPointsThroughPairs) {
  Tensor lab = Tensor::from_vector<int32_t>({0, 0, 1, 2}, Shape{2, 2});
  Tensor mask = Tensor::from_vector<int32_t>({3, 3, 3, -1}, Shape{2, 2});
  Tensor ref = refine_by_masks(lab, mask, 3);  // {0, 0, 0, 2}
  Tensor pairs = Tensor::from_vector<int64_t>({0, 2, 1, 3, 3, 0}, Shape{3, 2});
  EXPECT_EQ(to_points(4, {pairs}, {ref}, 3).to_vector<int64_t>(), (std::vector<int64_t>{0, 2, -1, 0}));
}

TEST(CnsSources, WarmupThenUniformOverEnabledDeterministic) {
  LabelSourceSampler s;
  Generator g(3), g2(3);
  EXPECT_EQ(s.draw(0, false, g), LabelSource::clip_2d);
  EXPECT_EQ(s.draw(9, true, g), LabelSource::clip_3d);
  EXPECT_EQ(g.offset(), 0u);
  std::map<LabelSource, int> n;
  for (int i = 0; i < 4000; ++i) {
    LabelSource a = s.draw(10, false, g), b = s.draw(10, false, g2);
    EXPECT_EQ(a, b);
    ++n[a];
  }
  ASSERT_EQ(n.size(), 4u);
  for (auto& [src, k] : n) {
    EXPECT_GT(k, 850) << label_source_name(src);
    EXPECT_LT(k, 1150) << label_source_name(src);
  }
  LabelSourceSampler wo = LabelSourceSampler::without_clip();
  for (int i = 0; i < 200; ++i) {
    LabelSource a = wo.draw(20, true, g);
    EXPECT_TRUE(a == LabelSource::pred_2d || a == LabelSource::pred_3d);
  }
  LabelSourceSampler none;
  none.use_clip_2d = none.use_clip_3d = none.use_pred_2d = none.use_pred_3d = false;
  EXPECT_THROW(none.draw(20, true, g), Error);
}

TEST(CnsLatent, ValueGradientsAndFrozenTarget) {
  Generator gen(8);
  LatentConsistencyOptions o;
  o.dim_2d = 5;
  o.dim_3d = 4;
  o.dim_target = 6;
  o.latent = 3;
  o.dtype = DType::f64;
  LatentConsistency lc(o, gen);
  const int64_t P = 7;
  Tensor x = Tensor::randn(Shape{P, 5}, 1, 0, DType::f64), p = Tensor::randn(Shape{P, 4}, 2, 0, DType::f64);
  Tensor s = Tensor::randn(Shape{P, 6}, 3, 0, DType::f64);
  x.requires_grad_(true);
  p.requires_grad_(true);
  s.requires_grad_(true);
  LatentConsistencyLoss L = lc.loss(x, p, s);
  // oracle: 1 - cos per row, mean, summed over both terms
  Tensor tgt = lc.phi_target->forward(s.detach());
  double ref = mean(sub(1.0, cosine_similarity(lc.theta->forward(x), tgt, -1, 1e-12))).item_double() +
               mean(sub(1.0, cosine_similarity(lc.phi_3d->forward(p), tgt, -1, 1e-12))).item_double();
  EXPECT_NEAR(L.total.item_double(), ref, 1e-10);
  EXPECT_NEAR(L.total.item_double(), L.term_2d.item_double() + L.term_3d.item_double(), 1e-14);
  EXPECT_GT(L.total.item_double(), 0.1);
  L.total.backward();
  EXPECT_FALSE(s.grad().defined());                       // SAM features frozen
  EXPECT_FALSE(lc.phi_target->weight.grad().defined());   // φ frozen by default
  EXPECT_TRUE(lc.theta->weight.grad().defined());
  EXPECT_EQ(lc.parameters().size(), 6u);
  EXPECT_EQ(lc.trainable_parameters().size(), 4u);
  leseg::testing::expect_gradcheck([&] { return lc.loss(x, p, s).total; },
                            {x, p, lc.theta->weight, lc.theta->bias, lc.phi_3d->weight});
  LatentConsistencyOptions o2 = o;
  o2.train_target_head = true;
  LatentConsistency lc2(o2, gen);
  lc2.loss(x, p, s).total.backward();
  EXPECT_TRUE(lc2.phi_target->weight.grad().defined());
  EXPECT_EQ(lc2.trainable_parameters().size(), 6u);
  EXPECT_FALSE(s.grad().defined());
}
