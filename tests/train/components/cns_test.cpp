// SPDX-License-Identifier: Apache-2.0
// CNS components: SAM-mask refinement vs a serial loop, transfer to points, label-source sampling,
// latent-space consistency (value, gradients, frozen SAM side).
#include "train/components/cns.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>

#include "engine/host_sync.h"
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

// The label-source switch -> target mapping (issue 20) on hand-made maps: 4 points, 2 views of 1x3 pixels.
// Pairs (point, pixel, view): (0,0,0) (1,1,0) (2,1,0) (2,0,1) (0,2,1); point 3 is unpaired; pixel (view 0, 1) is
// paired with points 1 and 2 and takes the first pair's (point 1's) label.
TEST(CnsSources, EachSourceMapsToBothNetworksTargets) {
  PairIndex p;
  p.N = 4, p.V = 2, p.H = 1, p.W = 3;
  p.point = {0, 1, 2, 2, 0};
  p.pixel = {0, 1, 1, 0, 2};
  p.view = {0, 0, 0, 1, 1};
  SourceMaps s;
  s.clip2 = Tensor::from_vector<int64_t>({4, 5, 6, 7, 8, 9}, Shape{6});
  s.pred2 = Tensor::from_vector<int64_t>({1, -1, 2, 3, 3, 0}, Shape{6});
  s.clip3 = Tensor::from_vector<int64_t>({2, 3, -1, 1}, Shape{4});
  s.pred3 = Tensor::from_vector<int64_t>({0, 1, 2, 3}, Shape{4});
  const int64_t C = 10;
  using V = std::vector<int64_t>;
  // 3D network's targets. Pixel sources: the mode over the views pairing the point, ties -> the smaller class.
  EXPECT_EQ(point_target(LabelSource::clip_3d, s, p, C).to_vector<int64_t>(), (V{2, 3, -1, 1}));
  EXPECT_EQ(point_target(LabelSource::pred_3d, s, p, C).to_vector<int64_t>(), (V{0, 1, 2, 3}));
  EXPECT_EQ(point_target(LabelSource::clip_2d, s, p, C).to_vector<int64_t>(), (V{4, 5, 5, -1}));  // p0: 4|9, p2: 5|7
  EXPECT_EQ(point_target(LabelSource::pred_2d, s, p, C).to_vector<int64_t>(), (V{0, -1, 3, -1}));  // p0: 1|0; p1: none
  // 2D network's targets. Point sources: the point's label at the pixels it pairs, -1 elsewhere.
  EXPECT_EQ(pixel_target(LabelSource::clip_2d, s, p, C).to_vector<int64_t>(), (V{4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(pixel_target(LabelSource::pred_2d, s, p, C).to_vector<int64_t>(), (V{1, -1, 2, 3, 3, 0}));
  EXPECT_EQ(pixel_target(LabelSource::clip_3d, s, p, C).to_vector<int64_t>(), (V{2, 3, -1, -1, -1, 2}));
  EXPECT_EQ(pixel_target(LabelSource::pred_3d, s, p, C).to_vector<int64_t>(), (V{0, 1, -1, 2, -1, 0}));
  // A source that was not computed is an error naming it.
  SourceMaps partial;
  partial.clip3 = s.clip3;
  EXPECT_THROW(point_target(LabelSource::pred_3d, partial, p, C), Error);
  EXPECT_THROW(points_to_pixels(Tensor::from_vector<int64_t>({1, 2}, Shape{2}), p), Error);  // 2 labels for 4 points
}

// The device forms of the hand-overs (PairIndex::d_*, filled by to_device) and SAM voting with a known mask count
// give the host path's labels exactly: the hand case above and random batches with repeated points and pixels,
// labels with holes, and mask ids with unused ids and a larger count than the largest id.
TEST(CnsSources, DeviceFormsEqualTheHostPath) {
  using V = std::vector<int64_t>;
  std::mt19937_64 rng(29);
  for (int trial = 0; trial < 20; ++trial) {
    PairIndex p;
    p.N = 60 + trial, p.V = 3, p.H = 5, p.W = 7;
    const int64_t C = 2 + trial % 6, P = 150 + 7 * trial, hw = p.H * p.W;
    for (int64_t i = 0; i < P; ++i) {
      p.point.push_back(int64_t(rng() % uint64_t(p.N)));
      p.pixel.push_back(int64_t(rng() % uint64_t(hw)));
      p.view.push_back(int64_t(rng() % uint64_t(p.V)));
    }
    V pix(size_t(p.V * hw)), pts(size_t(p.N));
    for (auto& x : pix) x = int64_t(rng() % uint64_t(C + 1)) - 1;
    for (auto& x : pts) x = int64_t(rng() % uint64_t(C + 1)) - 1;
    const Tensor tp = Tensor::from_vector(pix, Shape{p.V * hw}), tq = Tensor::from_vector(pts, Shape{p.N});
    const V host_points = pixels_to_points(tp, p, C).to_vector<int64_t>();
    const V host_pixels = points_to_pixels(tq, p).to_vector<int64_t>();
    PairIndex d = p;
    to_device(d, Device::cpu());
    ASSERT_TRUE(d.d_point.defined());
    EXPECT_EQ(pixels_to_points(tp, d, C).to_vector<int64_t>(), host_points) << "trial " << trial;
    EXPECT_EQ(points_to_pixels(tq, d).to_vector<int64_t>(), host_pixels) << "trial " << trial;
    // SAM voting: ids in [-1, G) with G above the largest id used.
    const int64_t G = 9 + trial;
    V ids(pix.size());
    for (auto& x : ids) x = int64_t(rng() % uint64_t(G - 3)) - 1;
    const Tensor ti = Tensor::from_vector(ids, Shape{p.V, p.H, p.W}), tl = tp.reshape(Shape{p.V, p.H, p.W});
    const Tensor a = refine_by_masks(tl, ti, C), b = refine_by_masks(tl, ti, C, G);
    EXPECT_EQ(b.shape(), a.shape());
    EXPECT_EQ(b.to_vector<int64_t>(), a.to_vector<int64_t>()) << "trial " << trial;
  }
  // A label >= C and an id >= the mask count are errors naming the function.
  const Tensor l = Tensor::from_vector<int64_t>({0, 5}, Shape{2}), m = Tensor::from_vector<int64_t>({0, 0}, Shape{2});
  try {
    refine_by_masks(l, m, 3, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cns::refine_by_masks"), std::string::npos) << e.what();
  }
  EXPECT_THROW(refine_by_masks(Tensor::from_vector<int64_t>({0, 1}, Shape{2}), Tensor::from_vector<int64_t>({0, 4}, Shape{2}), 3, 2),
               Error);
}

// Negative control: labelled entries permuted among themselves, -1 kept, deterministic per seed.
TEST(CnsSources, ShuffleKeepsTheLabelMultisetAndTheHoles) {
  Tensor l = Tensor::from_vector<int64_t>({3, -1, 0, 0, 5, -1, 2, 7, 1, 4}, Shape{2, 5});
  Tensor a = shuffle_labels(l, 11), b = shuffle_labels(l, 11);
  EXPECT_EQ(a.shape(), l.shape());
  EXPECT_EQ(a.to_vector<int64_t>(), b.to_vector<int64_t>());
  std::vector<int64_t> x = a.to_vector<int64_t>(), y = l.to_vector<int64_t>();
  EXPECT_EQ(x[1], -1);
  EXPECT_EQ(x[5], -1);
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  EXPECT_EQ(x, y);
  int differs = 0;
  for (uint64_t seed = 0; seed < 4; ++seed) differs += shuffle_labels(l, seed).to_vector<int64_t>() != l.to_vector<int64_t>();
  EXPECT_GT(differs, 0) << "the permutation is not the identity";
}

TEST(CnsSources, RandomLabelsKeepTheHolesAndStayInRange) {
  Tensor l = Tensor::from_vector<int64_t>({3, -1, 0, 0, 5, -1, 2, 7, 1, 4}, Shape{10});
  std::vector<int64_t> a = random_labels(l, 8, 3).to_vector<int64_t>();
  EXPECT_EQ(a, random_labels(l, 8, 3).to_vector<int64_t>());
  EXPECT_NE(a, random_labels(l, 8, 4).to_vector<int64_t>());
  for (size_t i = 0; i < a.size(); ++i) {
    if (i == 1 || i == 5) EXPECT_EQ(a[i], -1);
    else EXPECT_TRUE(a[i] >= 0 && a[i] < 8) << a[i];
  }
  EXPECT_THROW(random_labels(l, 0, 3), Error);
}

// The draws are the host loop's (the k-th labelled entry takes the k-th class from the seed), so the committed control
// rows reproduce; the labels are not read back (the mask is ranked on their device).
TEST(CnsSources, RandomLabelsAreTheHostLoopsDraws) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 3 * 7 * 11; ++i) v.push_back(i % 5 == 1 || i % 13 == 0 ? -1 : (i * 31) % 20);
  const Tensor l = Tensor::from_vector(v, Shape{3, 7, 11});
  for (uint64_t seed : {uint64_t(0), uint64_t(7), uint64_t(0x2e ^ 0x9E3779B97F4A7C15ULL)}) {
    std::vector<int64_t> want = v;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> cls(0, 19);
    for (auto& x : want)
      if (x >= 0) x = cls(rng);
    HostSyncCounter counter;
    const Tensor got = random_labels(l.to(DType::i32), 20, seed);
    EXPECT_EQ(counter.total(), 0) << counter.report();
    EXPECT_EQ(got.dtype(), DType::i64);
    EXPECT_EQ(got.shape(), l.shape());
    EXPECT_EQ(got.to_vector<int64_t>(), want) << "seed " << seed;
  }
  EXPECT_EQ(random_labels(Tensor::empty(Shape{0}, DType::i64), 4, 1).numel(), 0);
}
