// SPDX-License-Identifier: Apache-2.0
// Data-parallel shards of the loader: for K ranks with batch B, batch j of rank r is rank r's contiguous slice of
// the global batch that one loader with batch K·B yields (same scenes, same augmentation seeds), the shards are
// disjoint, a short last batch is dropped for training (fewer scenes than ranks) and kept for evaluation (empty
// shares skipped); paired semi-supervised batches split their labelled draws the same way.
#include <gtest/gtest.h>

#include <set>

#include "io/loader/loader.h"
#include "loader_fixtures.h"

namespace leseg::io::loader {
namespace {

using leseg::testing::tiny_batch_options;
using leseg::testing::tiny_scenes;

LoaderOptions opts(int64_t batch, int rank, int count) {
  LoaderOptions o;
  o.batch_size = batch;
  o.seed = 9;
  o.num_workers = 0;
  o.batch = tiny_batch_options();
  o.batch.views.enabled = false;
  o.shard_rank = rank;
  o.shard_count = count;
  return o;
}

TEST(LoaderShard, ShardsPartitionTheGlobalBatchInOrder) {
  auto src = memory_source(tiny_scenes(7));
  for (int K : {2, 3}) {
    Loader global(src, opts(2 * K, 0, 1));
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int r = 0; r < K; ++r) ranks.push_back(std::make_unique<Loader>(src, opts(2, r, K)));
    // 7 scenes, global batch 2K: K=2 -> 4 + 3 (2 batches); K=3 -> 6 + 1 (the last, 1 < 3 scenes, dropped)
    const int64_t want_nb = K == 2 ? 2 : 1;
    for (auto& l : ranks) ASSERT_EQ(l->num_batches(), want_nb) << "K " << K;
    for (int64_t e = 0; e < 2; ++e)
      for (int64_t j = 0; j < want_nb; ++j) {
        std::vector<std::pair<int64_t, uint64_t>> joined;
        for (auto& l : ranks) {
          auto it = l->batch_items(e, j);
          EXPECT_GE(it.size(), 1u);
          joined.insert(joined.end(), it.begin(), it.end());
        }
        EXPECT_EQ(joined, global.batch_items(e, j)) << "K " << K << " epoch " << e << " batch " << j;
      }
  }
}

TEST(LoaderShard, EvaluationKeepsEveryScene) {
  auto src = memory_source(tiny_scenes(5));
  // K = 2, batch 2: global batches of 4 + 1; rank 0's share of the last is empty and skipped by next().
  std::multiset<std::string> seen;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o = opts(2, r, 2);
    o.shuffle = false;
    o.shard_keep_short = true;
    Loader l(src, o);
    ASSERT_EQ(l.num_batches(), 2);
    l.start_epoch(0);
    Batch b;
    int n = 0;
    while (l.next(b)) {
      ++n;
      EXPECT_GT(b.num_scenes, 0);
      for (auto& s : b.scene_names) seen.insert(s);
    }
    EXPECT_EQ(n, r == 0 ? 1 : 2) << "rank " << r;
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u) << "a scene evaluated twice";
}

TEST(LoaderShard, PairedBatchesSplitTheLabelledDraws) {
  std::vector<Scene> sc = tiny_scenes(9);
  auto src = memory_source(sc);
  auto paired = [&](int64_t batch, int64_t L, int r, int K) {
    LoaderOptions o = opts(batch, r, K);
    o.labels.labelled_scenes = std::set<std::string>{"room1", "room4", "room7"};
    o.labelled_per_batch = L;
    return std::make_unique<Loader>(src, o);
  };
  auto global = paired(6, 2, 0, 1);  // 4 unlabelled + 2 labelled per global batch
  auto r0 = paired(3, 1, 0, 2), r1 = paired(3, 1, 1, 2);
  ASSERT_EQ(r0->num_batches(), global->num_batches());
  for (int64_t j = 0; j < global->num_batches(); ++j) {
    auto g = global->batch_items(1, j), a = r0->batch_items(1, j), b = r1->batch_items(1, j);
    std::multiset<std::pair<int64_t, uint64_t>> want(g.begin(), g.end()), got(a.begin(), a.end());
    got.insert(b.begin(), b.end());
    EXPECT_EQ(got, want) << "batch " << j;
  }
}

TEST(LoaderShard, BadShardIsAnError) {
  EXPECT_THROW(Loader(memory_source(tiny_scenes(2)), opts(1, 2, 2)), Error);
  EXPECT_THROW(Loader(memory_source(tiny_scenes(2)), opts(1, 0, 0)), Error);
}

}  // namespace
}  // namespace leseg::io::loader
