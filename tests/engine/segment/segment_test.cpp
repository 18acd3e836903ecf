// SPDX-License-Identifier: Apache-2.0
// Segment ops with autograd (engine/ops/segment.h) against serial loops, integer/dyadic data (exact):
// sum/mean/max and their gradients, gather as sum's adjoint, soft vote = per-group mean broadcast,
// mode vote (ties, ignored-only groups, weights), id compaction, clear errors.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/segment.h"

using namespace leseg;

TEST(SegmentOps, SumMeanMaxValuesAndGradients) {
  // 6 rows, 2 columns, groups: 0 = {0, 3}, 1 = {} (empty), 2 = {1, 2, 5}, row 4 in no group.
  Tensor group = Tensor::from_vector<int64_t>({0, 2, 2, 0, -1, 2}, Shape{6});
  std::vector<double> xv = {1, -2, 3, 4, 0.5, 4, -1, 8, 9, 9, 3, 0.25};
  Tensor x = Tensor::from_vector(xv, Shape{6, 2}).requires_grad_();
  Tensor s = segment_sum(x, group, 3);
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{0, 6, 0, 0, 6.5, 8.25}));
  Tensor m = segment_mean(x, group, 3);
  EXPECT_EQ(m.to_vector<double>(), (std::vector<double>{0, 3, 0, 0, 6.5 / 3, 8.25 / 3}));
  Tensor mx = segment_max(x, group, 3);
  EXPECT_EQ(mx.to_vector<double>(), (std::vector<double>{1, 8, 0, 0, 3, 4}));  // col 1 of group 2: tie 4,4 → row 1
  Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, Shape{3, 2});
  // d/dx Σ w·(sum + mean + max)
  std::vector<Tensor> roots{s, m, mx}, grads{w, w, w};
  run_backward(roots, grads, false);
  // row r in group g: w[g] (sum) + w[g]/|g| (mean) + w[g]·[r is the first argmax]
  std::vector<double> expect = {1 + 0.5 + 1, 2 + 1 + 0,         5 + 5.0 / 3 + 5, 6 + 2 + 6, 5 + 5.0 / 3, 6 + 2,
                                1 + 0.5,     2 + 1 + 2,         0,               0,         5 + 5.0 / 3, 6 + 2};
  auto g = x.grad().to_vector<double>();
  for (size_t j = 0; j < g.size(); ++j) EXPECT_DOUBLE_EQ(g[j], expect[j]) << j;
}

TEST(SegmentOps, GatherIsTheAdjointOfSumAndSoftVoteIsGroupMean) {
  Tensor group = Tensor::from_vector<int64_t>({1, 0, 1, -1, 1}, Shape{5});
  Tensor p = Tensor::from_vector<double>({0.5, 0.5, 1, 0, 0.25, 0.75, 0.125, 0.875, 0, 1}, Shape{5, 2}).requires_grad_();
  Tensor v = soft_vote(p, group, 2);
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{0.25, 0.75, 1, 0, 0.25, 0.75, 0, 0, 0.25, 0.75}));
  Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Shape{5, 2});
  v.backward(w);
  // group 1 rows {0, 2, 4}: each gets (Σ_{r∈g} w_r)/3 = (1+5+9)/3, (2+6+10)/3; group 0 row 1: w_1; row 3: 0
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{5, 6, 3, 4, 5, 6, 0, 0, 5, 6}));
}

TEST(SegmentOps, VoteModeAndCompaction) {
  // arbitrary segment ids (e.g. ScanNet segIndices) → compact → vote
  Tensor raw = Tensor::from_vector<int64_t>({5000, 17, 5000, 17, 9, 9, 17, 123456789}, Shape{8});
  CompactIds c = compact_ids(raw);
  ASSERT_EQ(c.num_groups, 4);
  EXPECT_EQ(c.unique.to_vector<int64_t>(), (std::vector<int64_t>{9, 17, 5000, 123456789}));
  EXPECT_EQ(c.compact.to_vector<int64_t>(), (std::vector<int64_t>{2, 1, 2, 1, 0, 0, 1, 3}));
  Tensor labels = Tensor::from_vector<int64_t>({3, 2, 1, 2, 255, 255, 4, 0}, Shape{8});
  VoteResult v = vote_mode(c.compact, labels, c.num_groups, 5, 255);
  // group 0 = {255, 255} → ignore; group 1 = {2, 2, 4} → 2; group 2 = {3, 1} → tie → 1; group 3 = {0}
  EXPECT_EQ(v.group_mode.to_vector<int64_t>(), (std::vector<int64_t>{255, 2, 1, 0}));
  EXPECT_EQ(v.point_mode.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 1, 2, 255, 255, 2, 0}));
  Tensor w = Tensor::from_vector<float>({2, 1, 1, 1, 1, 1, 3, 1}, Shape{8});
  VoteResult vw = vote_mode(c.compact, labels, c.num_groups, 5, 255, w);
  EXPECT_EQ(vw.group_mode.to_vector<int64_t>(), (std::vector<int64_t>{255, 4, 3, 0}));
}

TEST(SegmentOps, BadInputsAreClearErrors) {
  Tensor x = Tensor::ones(Shape{4, 2});
  EXPECT_THROW(segment_sum(x, Tensor::zeros(Shape{3}, DType::i64), 2), Error);
  EXPECT_THROW(segment_sum(x, Tensor::zeros(Shape{4}, DType::f32), 2), Error);
  EXPECT_THROW(segment_sum(x, Tensor::zeros(Shape{4}, DType::i64), -1), Error);
  EXPECT_THROW(segment_sum(x, Tensor::from_vector<int64_t>({0, 1, 2, 0}, Shape{4}), 2), std::exception);
  EXPECT_THROW(vote_mode(Tensor::zeros(Shape{4}, DType::i64), Tensor::zeros(Shape{3}, DType::i64), 1, 2), Error);
  EXPECT_THROW(segment_sum(Tensor::ones(Shape{4, 2}, DType::i64), Tensor::zeros(Shape{4}, DType::i64), 1), Error);
}
