// SPDX-License-Identifier: Apache-2.0
// train/components/common: pixel -> point label projection (vs a serial loop), compact ids,
// CLIP2Scene's self-training switch.
#include "train/components/common.h"

#include <gtest/gtest.h>

#include <map>

#include "engine/ops/reduce.h"

using namespace leseg;
using namespace leseg::train;

TEST(ComponentsCommon, GatherAtPairsAndRangeError) {
  Tensor lab = Tensor::from_vector<int32_t>({5, 6, 7, 8, 9, 10}, Shape{2, 3});
  Tensor pairs = Tensor::from_vector<int64_t>({0, 5, 3, 0, 3, 2}, Shape{3, 2});
  EXPECT_EQ(gather_at_pairs(lab, pairs).to_vector<int64_t>(), (std::vector<int64_t>{10, 5, 7}));
  Tensor feats = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Shape{6, 2});
  EXPECT_EQ(gather_at_pairs(feats, pairs).to_vector<float>(), (std::vector<float>{10, 11, 0, 1, 4, 5}));
  Tensor bad = Tensor::from_vector<int64_t>({0, 6}, Shape{1, 2});
  EXPECT_THROW(gather_at_pairs(lab, bad), Error);
}

TEST(ComponentsCommon, ProjectPixelLabelsModeAndFirstMatchSerialLoop) {
  const int64_t N = 37, C = 5, H = 4, W = 6, V = 4;
  std::vector<Tensor> pairs, labels;
  std::vector<std::vector<int64_t>> pv, lv;
  uint64_t s = 12345;
  auto next = [&](uint64_t m) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return (s >> 33) % m; };
  for (int64_t v = 0; v < V; ++v) {
    std::vector<int64_t> l(H * W), p;
    for (auto& x : l) x = int64_t(next(C + 1)) - 1;  // -1 .. C-1
    for (int64_t i = 0; i < N; ++i)
      if (next(3) != 0) { p.push_back(i); p.push_back(int64_t(next(H * W))); }
    pairs.push_back(Tensor::from_vector(p, Shape{int64_t(p.size() / 2), 2}));
    labels.push_back(Tensor::from_vector(l, Shape{H, W}));
    pv.push_back(p);
    lv.push_back(l);
  }
  std::vector<int64_t> mode = project_pixel_labels(N, pairs, labels, C, ViewReduce::mode).to_vector<int64_t>();
  std::vector<int64_t> first = project_pixel_labels(N, pairs, labels, C, ViewReduce::first).to_vector<int64_t>();
  std::vector<std::vector<int64_t>> hist(N, std::vector<int64_t>(C, 0));
  std::vector<int64_t> ref_first(N, -1);
  for (int64_t v = 0; v < V; ++v)
    for (size_t k = 0; k < pv[v].size(); k += 2) {
      int64_t p = pv[v][k], l = lv[v][size_t(pv[v][k + 1])];
      if (l < 0) continue;
      ++hist[p][l];
      if (ref_first[p] < 0) ref_first[p] = l;
    }
  int labelled = 0;
  for (int64_t p = 0; p < N; ++p) {
    int64_t best = -1, bc = 0;
    for (int64_t c = 0; c < C; ++c)
      if (hist[p][c] > bc) { bc = hist[p][c]; best = c; }
    EXPECT_EQ(mode[p], best) << "point " << p;
    EXPECT_EQ(first[p], ref_first[p]) << "point " << p;
    labelled += best >= 0;
  }
  EXPECT_GT(labelled, N / 2);  // non-trivial
  EXPECT_THROW(project_pixel_labels(N, pairs, labels, 2), Error);  // labels >= 2 classes
}

TEST(ComponentsCommon, CompactNonnegative) {
  CompactGroups g = compact_nonnegative(Tensor::from_vector<int32_t>({7, -1, 3, 7, 100, -5}, Shape{6}));
  EXPECT_EQ(g.num_groups, 3);
  EXPECT_EQ(g.group.to_vector<int64_t>(), (std::vector<int64_t>{1, -1, 0, 1, 2, -1}));
}

TEST(ComponentsCommon, SelfTrainingSwitchIsDeterministicAndOffBeforeStart) {
  SelfTrainingSwitch sw;
  Generator a(7), b(7);
  for (int e = 0; e < 10; ++e) EXPECT_FALSE(sw.use_prediction(e, a));
  EXPECT_EQ(a.offset(), 0u);  // no draws before the start epoch
  int on = 0;
  for (int i = 0; i < 2000; ++i) {
    bool x = sw.use_prediction(10, a), y = sw.use_prediction(10, b);
    EXPECT_EQ(x, y);
    on += x;
  }
  EXPECT_GT(on, 900);
  EXPECT_LT(on, 1100);
  Tensor z = Tensor::from_vector<float>({0, 3, 1, 5, 0, 0}, Shape{2, 3});
  Tensor lab = Tensor::from_vector<int64_t>({2, 2}, Shape{2});
  EXPECT_EQ(SelfTrainingSwitch::target(lab, z, false).to_vector<int64_t>(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(SelfTrainingSwitch::target(lab, z, true).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
}

// teacher.momentum / erda.momentum: a number, or auto = 1 − 10 / steps clamped to [0, 0.999].
TEST(ComponentsCommon, EmaMomentumFromConfigAutoRuleAndErrors) {
  auto read = [](const std::string& text, int64_t steps) {
    Config cfg;
    if (!text.empty()) cfg.apply_override("erda.momentum=" + text);
    return ema_momentum_from_config(cfg, "erda.momentum", "0.999", steps);
  };
  EXPECT_DOUBLE_EQ(read("", 320), 0.999);  // the fallback
  EXPECT_DOUBLE_EQ(read("0.9", 320), 0.9);
  EXPECT_DOUBLE_EQ(read("auto", 320), 1.0 - 10.0 / 320.0);
  EXPECT_DOUBLE_EQ(read("auto", 1000), 0.99);
  EXPECT_DOUBLE_EQ(read("auto", 5), 0.0);          // clamped below
  EXPECT_DOUBLE_EQ(read("auto", 1000000), 0.999);  // and above
  EXPECT_DOUBLE_EQ(read("auto", 0), 0.0);          // no steps: treated as one
  for (const char* bad : {"fast", "1.5", "-0.1", "0.9x"}) {
    try {
      read(bad, 100);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("erda.momentum"), std::string::npos) << e.what();
    }
  }
}
