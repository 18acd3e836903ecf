// SPDX-License-Identifier: Apache-2.0
// HICL components: intra-set refinement vs a serial loop, proportional sampling (largest remainder, exact
// totals, only labelled points, determinism), packing, feedback KL direction and scaling, stage schedule.
#include "train/components/hicl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>

#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/optim/sgd.h"

using namespace leseg;
using namespace leseg::train::hicl;

TEST(HiclRefine, MatchesSerialLoop) {
  const int64_t N = 61, C = 4;
  std::vector<int64_t> lab(N), set(N);
  uint64_t s = 99;
  auto next = [&](uint64_t m) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return (s >> 33) % m; };
  for (int64_t i = 0; i < N; ++i) {
    lab[i] = std::max<int64_t>(int64_t(next(C + 2)) - 2, -1);  // about one in three unlabelled
    set[i] = int64_t(next(8)) * 10 - 10;  // -10 (no set), 0, 10, ..., 60
  }
  Tensor L = Tensor::from_vector(lab, Shape{N}), S = Tensor::from_vector(set, Shape{N});
  for (bool propagate : {false, true}) {
    std::vector<int64_t> out = refine_by_sets(L, S, C, propagate).to_vector<int64_t>();
    std::map<int64_t, std::vector<int64_t>> hist;
    for (int64_t i = 0; i < N; ++i)
      if (set[i] >= 0) {
        auto& h = hist[set[i]];
        h.resize(C, 0);
        if (lab[i] >= 0) ++h[lab[i]];
      }
    int changed = 0;
    for (int64_t i = 0; i < N; ++i) {
      int64_t ref = lab[i];
      if (set[i] >= 0) {
        auto& h = hist[set[i]];
        int64_t best = -1, bc = 0;
        for (int64_t c = 0; c < C; ++c)
          if (h[c] > bc) { bc = h[c]; best = c; }
        if (best >= 0 && (lab[i] >= 0 || propagate)) ref = best;
      }
      EXPECT_EQ(out[i], ref) << "point " << i << " propagate " << propagate;
      changed += out[i] != lab[i];
    }
    EXPECT_GT(changed, 5);
  }
}

TEST(HiclSampling, ProportionalCountsLargestRemainder) {
  EXPECT_EQ(proportional_counts({50, 30, 20}, 10), (std::vector<int64_t>{5, 3, 2}));
  EXPECT_EQ(proportional_counts({7, 5, 1}, 1024), (std::vector<int64_t>{7, 5, 1}));  // N <= M: everything
  // 1024 * {700, 500, 100} / 1300 = 551.38, 393.85, 78.77 -> floors (1022), remainders .85 and .77 get +1
  EXPECT_EQ(proportional_counts({700, 500, 100}, 1024), (std::vector<int64_t>{551, 394, 79}));
  // ties in the remainder go to the lower set index
  EXPECT_EQ(proportional_counts({1, 1, 1}, 2), (std::vector<int64_t>{1, 1, 0}));
  for (int64_t M : {1, 7, 100, 1023}) {
    std::vector<int64_t> sizes{13, 997, 1, 0, 250, 61};
    auto c = proportional_counts(sizes, M);
    EXPECT_EQ(std::accumulate(c.begin(), c.end(), int64_t(0)), M);
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_LE(c[i], sizes[i]);
      EXPECT_LE(std::abs(double(c[i]) - double(M) * double(sizes[i]) / 1322.0), 1.0);
    }
  }
  EXPECT_THROW(proportional_counts({1, -1}, 3), Error);
}

TEST(HiclSampling, SceneSamplesLabelledPointsPerSetDeterministically) {
  // set sizes (labelled): set 5: 600, set 2: 300, set 9: 90 + 10 unlabelled, no set: 100 labelled
  std::vector<int64_t> sets, labels;
  for (int i = 0; i < 600; ++i) { sets.push_back(5); labels.push_back(i % 3); }
  for (int i = 0; i < 300; ++i) { sets.push_back(2); labels.push_back(1); }
  for (int i = 0; i < 100; ++i) { sets.push_back(9); labels.push_back(i < 90 ? 0 : -1); }
  for (int i = 0; i < 100; ++i) { sets.push_back(-1); labels.push_back(2); }
  const int64_t N = int64_t(sets.size());
  Tensor S = Tensor::from_vector(sets, Shape{N}), L = Tensor::from_vector(labels, Shape{N});
  Generator g1(5), g2(5), g3(6);
  std::vector<int64_t> a = sample_scene(S, L, 109, g1).to_vector<int64_t>();
  std::vector<int64_t> b = sample_scene(S, L, 109, g2).to_vector<int64_t>();
  std::vector<int64_t> c = sample_scene(S, L, 109, g3).to_vector<int64_t>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(a.size(), 109u);
  std::map<int64_t, int64_t> per;
  for (size_t i = 0; i < a.size(); ++i) {
    if (i) {
      EXPECT_LT(a[i - 1], a[i]);  // sorted, no duplicates
    }
    EXPECT_GE(labels[size_t(a[i])], 0);
    ++per[sets[size_t(a[i])]];
  }
  // pools (no set, 2, 5, 9) = (100, 300, 600, 90) of 1090: 109 * N_i / 1090 = 10, 30, 60, 9 exactly
  EXPECT_EQ(per[-1], 10);
  EXPECT_EQ(per[2], 30);
  EXPECT_EQ(per[5], 60);
  EXPECT_EQ(per[9], 9);
  // fewer labelled points than M: every labelled point
  Generator g4(1);
  EXPECT_EQ(sample_scene(S, L, 5000, g4).size(0), 1090);
}

TEST(HiclSampling, BatchPackingOffsets) {
  std::vector<int64_t> sets{0, 0, 1, 1, 1, 0, 0, 0, 0}, labels{1, -1, 2, 2, 0, 3, 3, -1, 3};
  Tensor S = Tensor::from_vector(sets, Shape{9}), L = Tensor::from_vector(labels, Shape{9});
  Tensor off = Tensor::from_vector<int64_t>({0, 5, 5, 9}, Shape{4});  // scene 1 is empty
  Generator g(2);
  PackedSamples p = sample_batch(S, L, off, 3, g);
  std::vector<int64_t> idx = p.index.to_vector<int64_t>(), cu = p.cu_intra.to_vector<int64_t>();
  EXPECT_EQ(cu, (std::vector<int64_t>{0, 3, 3, 6}));
  EXPECT_EQ(p.cu_inter.to_vector<int64_t>(), (std::vector<int64_t>{0, 6}));
  for (int i = 0; i < 3; ++i) EXPECT_LT(idx[i], 5);
  EXPECT_EQ(std::vector<int64_t>(idx.begin() + 3, idx.end()), (std::vector<int64_t>{5, 6, 8}));
  for (int64_t i : idx) EXPECT_GE(labels[size_t(i)], 0);
  EXPECT_THROW(sample_batch(S, L, Tensor::from_vector<int64_t>({0, 4}, Shape{2}), 3, g), Error);
}

TEST(HiclFeedback, KlIsTeacherToStudentScaledAndTeacherDetached) {
  Tensor t = Tensor::from_vector<double>({2, 0, -1, 0.5, 0.5, 1}, Shape{2, 3});
  Tensor s = Tensor::from_vector<double>({0, 1, 0, -1, 2, 0}, Shape{2, 3});
  t.requires_grad_(true);
  s.requires_grad_(true);
  auto klrow = [](const std::vector<double>& p, const std::vector<double>& q, double T) {
    double out = 0;
    for (int r = 0; r < 2; ++r) {
      double zp = 0, zq = 0;
      for (int k = 0; k < 3; ++k) { zp += std::exp(p[r * 3 + k] / T); zq += std::exp(q[r * 3 + k] / T); }
      for (int k = 0; k < 3; ++k) {
        double pp = std::exp(p[r * 3 + k] / T) / zp, qq = std::exp(q[r * 3 + k] / T) / zq;
        out += pp * std::log(pp / qq);
      }
    }
    return out;
  };
  auto tv = t.to_vector<double>(), sv = s.to_vector<double>();
  const double kl_ts = klrow(tv, sv, 1.0) / 2, kl_st = klrow(sv, tv, 1.0) / 2;
  ASSERT_GT(std::abs(kl_ts - kl_st), 1e-3);  // the direction is observable on these inputs
  Tensor L = feedback_kl(s, t);
  EXPECT_NEAR(L.item_double(), kl_ts, 1e-12);
  EXPECT_NEAR(feedback_kl(s, t, 2.0).item_double(), 4.0 * klrow(tv, sv, 2.0) / 2, 1e-12);  // ×T², /N
  L.backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
  Tensor a = aggregate_logits(t.detach(), s.detach());
  EXPECT_DOUBLE_EQ(a.to_vector<double>()[0], 1.0);
  EXPECT_TRUE(aggregate_logits(Tensor(), s).same(s));
}

TEST(HiclSchedule, StagesSwitchAtConfiguredEpochsAndAblations) {
  StageSchedule sch;
  Stage e0 = sch.at(0), e9 = sch.at(9), e10 = sch.at(10), e18 = sch.at(18), e19 = sch.at(19);
  EXPECT_TRUE(e0.ce && !e0.intra && !e0.inter && !e0.kl);
  EXPECT_TRUE(!e9.intra && !e9.kl);
  EXPECT_TRUE(e10.intra && e10.inter && !e10.kl);
  EXPECT_TRUE(e18.transformers() && !e18.kl);
  EXPECT_TRUE(e19.intra && e19.inter && e19.kl);
  StageSchedule intra_only;
  intra_only.use_inter_scene = false;
  intra_only.use_feedback = false;
  Stage s = intra_only.at(50);
  EXPECT_TRUE(s.intra && !s.inter && !s.kl);
  StageSchedule baseline;
  baseline.use_intra_scene = baseline.use_inter_scene = false;
  Stage b = baseline.at(50);
  EXPECT_TRUE(b.ce && !b.transformers() && !b.kl);  // feedback needs a transformer teacher
  StageSchedule custom{2, 4};
  EXPECT_FALSE(custom.at(1).intra);
  EXPECT_TRUE(custom.at(2).intra && !custom.at(3).kl && custom.at(4).kl);
}

// The transformers' schedule starts with their stage: before the delay and at the stage start lr = base lr; from
// there the inner cosine (built over the stage's length) runs its full course; the state is the outer counter.
TEST(HiclSchedule, DelayedLrStartsAtTheStageWithTheBaseLr) {
  ParamGroup hyper;
  hyper.lr = 0.2;
  SGD opt({Tensor::zeros(Shape{2}).requires_grad_(true)}, hyper);
  auto inner = std::make_unique<CosineWarmupLR>(opt, 0, 4);  // 4 steps of stage
  DelayedLR lr(opt, std::move(inner), 3);
  EXPECT_EQ(lr.delay(), 3);
  for (int64_t t = 0; t <= 3; ++t) {
    lr.set_state(t);
    EXPECT_DOUBLE_EQ(lr.get_lr()[0], 0.2) << t;  // t = 3: the stage's first step
  }
  const double pi = std::acos(-1.0);
  for (int64_t t = 4; t <= 7; ++t) {
    lr.set_state(t);
    EXPECT_NEAR(lr.get_lr()[0], 0.2 * (1 + std::cos(pi * double(t - 3) / 4.0)) / 2.0, 1e-12) << t;
  }
  lr.set_state(9);
  EXPECT_NEAR(lr.get_lr()[0], 0.0, 1e-12);  // ran its course
  lr.set_state(3);
  lr.step();
  EXPECT_EQ(lr.state(), 4);
  EXPECT_THROW(DelayedLR(opt, nullptr, 1), Error);
}
