// SPDX-License-Identifier: Apache-2.0
// Loader: same seed -> identical batches, 0 / 1 / 4 workers identical, per-epoch shuffles, resume mid-epoch,
// errors from a corrupt scene file surface in the consumer naming the file, clean shutdown, label policies,
// MeanTeacher's two views, paired labelled / unlabelled batches.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "io/datasets/scene_io.h"
#include "io/loader/loader.h"
#include "loader_fixtures.h"

namespace leseg::io::loader {
namespace {

using leseg::testing::same_batch;
using leseg::testing::tiny_batch_options;
using leseg::testing::tiny_scenes;
namespace fs = std::filesystem;

LoaderOptions small_options(int workers) {
  LoaderOptions o;
  o.batch_size = 2;
  o.seed = 42;
  o.num_workers = workers;
  o.prefetch = 2;
  o.batch = tiny_batch_options();
  return o;
}

std::vector<Batch> run_epoch(Loader& l, int64_t epoch, int64_t first = 0) {
  std::vector<Batch> out;
  l.start_epoch(epoch, first);
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

TEST(Loader, DeterministicAndIndependentOfWorkerCount) {
  auto src = memory_source(tiny_scenes(5));
  Loader l0(src, small_options(0)), l1(src, small_options(1)), l4(src, small_options(4));
  EXPECT_EQ(l0.num_batches(), 3);
  std::vector<Batch> a = run_epoch(l0, 1), b = run_epoch(l1, 1), c = run_epoch(l4, 1), d = run_epoch(l4, 1);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  ASSERT_EQ(c.size(), 3u);
  std::string what;
  std::multiset<std::string> names;
  for (size_t j = 0; j < a.size(); ++j) {
    EXPECT_TRUE(same_batch(a[j], b[j], &what)) << "batch " << j << " 0 vs 1 workers: " << what;
    EXPECT_TRUE(same_batch(a[j], c[j], &what)) << "batch " << j << " 0 vs 4 workers: " << what;
    EXPECT_TRUE(same_batch(c[j], d[j], &what)) << "batch " << j << " rerun: " << what;
    EXPECT_TRUE(same_batch(a[j], l4.build(1, int64_t(j)), &what)) << "batch " << j << " build(): " << what;
    EXPECT_GT(a[j].num_voxels(), 0);
    names.insert(a[j].scene_names.begin(), a[j].scene_names.end());
  }
  EXPECT_EQ(a[2].num_scenes, 1);  // 5 scenes, batch 2, no drop_last
  EXPECT_EQ(names, (std::multiset<std::string>{"room0", "room1", "room2", "room3", "room4"}));
  // another epoch: another order or other augmentations
  std::vector<Batch> e = run_epoch(l4, 2);
  bool differs = false;
  for (size_t j = 0; j < a.size(); ++j) differs |= !same_batch(a[j], e[j], &what);
  EXPECT_TRUE(differs);
  // resume mid-epoch gives the tail of the same epoch
  std::vector<Batch> tail = run_epoch(l1, 1, 1);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_TRUE(same_batch(tail[0], a[1], &what)) << what;
  // another seed: other batches
  LoaderOptions o = small_options(0);
  o.seed = 43;
  Loader lx(src, o);
  EXPECT_FALSE(same_batch(lx.build(1, 0), a[0], &what));
}

TEST(Loader, ShuffleIsAPermutationPerEpochAndDropLast) {
  std::vector<int64_t> p0 = epoch_order(37, 9, 0, true), p1 = epoch_order(37, 9, 1, true);
  EXPECT_NE(p0, p1);
  EXPECT_EQ(p0, epoch_order(37, 9, 0, true));
  std::vector<int64_t> s = p0;
  std::sort(s.begin(), s.end());
  for (int64_t i = 0; i < 37; ++i) EXPECT_EQ(s[size_t(i)], i);
  std::vector<int64_t> id = epoch_order(5, 9, 3, false);
  EXPECT_EQ(id, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  LoaderOptions o = small_options(0);
  o.drop_last = true;
  o.shuffle = false;
  Loader l(memory_source(tiny_scenes(5)), o);
  EXPECT_EQ(l.num_batches(), 2);
  EXPECT_EQ(l.batch_indices(0, 1), (std::vector<int64_t>{2, 3}));
}

TEST(Loader, CorruptSceneFileRaisesInTheConsumerNamingTheFile) {
  leseg::testing::TempDir dir;
  std::vector<Scene> sc = tiny_scenes(4);
  std::vector<std::string> names;
  for (const Scene& s : sc) {
    write_scene(dir.file("scenes/" + s.name), s);
    names.push_back(s.name);
  }
  write_split(dir.path.string(), "train", names);
  // truncate room2's coordinates
  const std::string bad = dir.file("scenes/room2/coord.npy");
  const auto size = fs::file_size(bad);
  fs::resize_file(bad, size / 2);
  for (int workers : {0, 3}) {
    LoaderOptions o = small_options(workers);
    o.shuffle = false;
    o.batch_size = 1;
    Loader l(directory_source(dir.path.string(), "train"), o);
    l.start_epoch(0);
    Batch b;
    int delivered = 0;
    bool raised = false;
    for (int j = 0; j < 4; ++j) {
      try {
        ASSERT_TRUE(l.next(b));
        ++delivered;
        EXPECT_EQ(b.scene_names[0], names[size_t(j)]);
      } catch (const Error& e) {
        raised = true;
        EXPECT_EQ(j, 2) << "workers " << workers;
        const std::string msg = e.what();
        EXPECT_NE(msg.find("room2"), std::string::npos) << msg;
        EXPECT_NE(msg.find("coord.npy"), std::string::npos) << msg;
      }
    }
    EXPECT_TRUE(raised) << "workers " << workers;
    EXPECT_EQ(delivered, 3) << "workers " << workers;
    EXPECT_FALSE(l.next(b));
  }
  // a missing scene folder is named too
  Loader l(directory_source(std::vector<std::string>{dir.file("scenes/nope")}), small_options(1));
  l.start_epoch(0);
  Batch b;
  leseg::testing::expect_error([&] { l.next(b); }, {"nope"});
}

TEST(Loader, CleanShutdownMidEpoch) {
  auto src = memory_source(tiny_scenes(5));
  for (int rep = 0; rep < 3; ++rep) {
    LoaderOptions o = small_options(3);
    o.batch_size = 1;
    o.prefetch = 1;
    auto l = std::make_unique<Loader>(src, o);
    l->start_epoch(0);
    Batch b;
    ASSERT_TRUE(l->next(b));
    l->start_epoch(1);  // restart while workers wait on the bounded queue
    ASSERT_TRUE(l->next(b));
    l.reset();  // destructor joins
  }
  Loader l(src, small_options(2));
  Batch b;
  EXPECT_THROW(l.next(b), Error);  // before start_epoch
  EXPECT_THROW(Loader(src, [] { LoaderOptions o; o.batch_size = 0; return o; }()), Error);
}

TEST(Loader, SemiSupervisedSplitAndWeakLabels) {
  std::vector<Scene> sc = tiny_scenes(4);
  LoaderOptions o = small_options(2);
  o.batch_size = 4;
  o.shuffle = false;
  o.batch.views.enabled = false;
  o.labels.labelled_scenes = std::set<std::string>{"room1", "room3"};
  o.labels.weak_spec = WeakLabelSpec::parse("1%", 5);
  Loader l(memory_source(sc), o);
  Batch b = l.build(0, 0);
  EXPECT_EQ(b.scene_labelled, (std::vector<uint8_t>{0, 1, 0, 1}));
  std::vector<int32_t> lab = b.labels.to_vector<int32_t>();
  for (int s = 0; s < 4; ++s) {
    std::map<int32_t, int64_t> full, kept;
    for (int32_t c : sc[size_t(s)].labels.to_vector<int32_t>())
      if (c >= 0) ++full[c];
    for (int64_t i = b.point_offsets[size_t(s)]; i < b.point_offsets[size_t(s) + 1]; ++i) {
      const int32_t c = lab[size_t(i)];
      if (c < 0) continue;
      ++kept[c];
      ASSERT_EQ(c, sc[size_t(s)].labels.to_vector<int32_t>()[size_t(i - b.point_offsets[size_t(s)])]);
    }
    if (s % 2 == 0) {
      EXPECT_TRUE(kept.empty()) << "unlabelled scene " << s;
      continue;
    }
    ASSERT_GT(full.size(), 2u);
    for (const auto& [c, n] : full) EXPECT_EQ(kept[c], std::max<int64_t>(n / 100, 1)) << "scene " << s << " class " << c;
  }
  // a saved table takes precedence and must list every scene
  auto table = std::make_shared<WeakLabelTable>();
  (*table)["room0"] = {0, 1, 2};
  o.labels.weak_table = table;
  o.labels.labelled_scenes.reset();
  Loader lt(memory_source(sc), o);
  leseg::testing::expect_error([&] { lt.build(0, 0); }, {"room1", "weak label table"});
}

TEST(Loader, TwoViewsForMeanTeacher) {
  LoaderOptions o = small_options(2);
  o.two_views = true;
  Loader l(memory_source(tiny_scenes(3)), o);
  std::vector<Batch> e = run_epoch(l, 0);
  ASSERT_EQ(e.size(), 2u);
  for (const Batch& b : e) {
    ASSERT_TRUE(b.teacher);
    const Batch& t = *b.teacher;
    EXPECT_EQ(t.point_offsets, b.point_offsets);
    EXPECT_TRUE(leseg::testing::same_tensor(t.labels, b.labels));
    EXPECT_TRUE(leseg::testing::same_tensor(t.segments, b.segments));
    EXPECT_FALSE(leseg::testing::same_tensor(t.points, b.points));
    EXPECT_EQ(t.num_views(), 0);  // teacher_views off
    EXPECT_GT(b.num_views(), 0);
    // the same point in both views: distances to another point agree up to scale and jitter
    EXPECT_EQ(t.inverse.numel(), b.inverse.numel());
  }
  std::string what;
  EXPECT_TRUE(same_batch(e[0], l.build(0, 0), &what)) << what;
}

TEST(Loader, PairedBatchesHoldOneLabelledSceneEach) {
  // 7 scenes, 2 labelled; batch 3 = 2 unlabelled + 1 labelled; an epoch is one pass over the 5 unlabelled scenes.
  std::vector<Scene> sc = tiny_scenes(7);
  LoaderOptions o = small_options(0);
  o.batch_size = 3;
  o.batch.views.enabled = false;
  o.labels.labelled_scenes = std::set<std::string>{"room2", "room5"};
  o.labelled_per_batch = 1;
  auto src = memory_source(sc);
  Loader l(src, o);
  ASSERT_EQ(l.num_batches(), 3);  // ceil(5 / 2)
  std::multiset<std::string> unlabelled;
  std::vector<std::string> labelled_draws;
  for (int64_t e = 0; e < 2; ++e) {
    std::vector<Batch> bs = run_epoch(l, e);
    ASSERT_EQ(bs.size(), 3u);
    for (const Batch& b : bs) {
      ASSERT_EQ(b.num_scenes, int64_t(b.scene_labelled.size()));
      ASSERT_EQ(b.scene_labelled.back(), 1) << "the last scene of every batch is the labelled draw";
      for (int64_t s = 0; s + 1 < b.num_scenes; ++s) {
        EXPECT_EQ(b.scene_labelled[size_t(s)], 0);
        if (e == 0) unlabelled.insert(b.scene_names[size_t(s)]);
      }
      labelled_draws.push_back(b.scene_names.back());
    }
  }
  EXPECT_EQ(unlabelled.size(), 5u);
  EXPECT_EQ(unlabelled, (std::multiset<std::string>{"room0", "room1", "room3", "room4", "room6"}));
  // the labelled stream visits both labelled scenes once in every two draws (a permutation per cycle)
  ASSERT_EQ(labelled_draws.size(), 6u);
  for (size_t c = 0; c < 3; ++c) {
    std::set<std::string> cycle{labelled_draws[2 * c], labelled_draws[2 * c + 1]};
    EXPECT_EQ(cycle, (std::set<std::string>{"room2", "room5"})) << "cycle " << c;
  }
  std::string what;
  // worker count and build() agree; resume mid-epoch gives the same tail
  LoaderOptions o4 = o;
  o4.num_workers = 3;
  Loader l4(src, o4);
  std::vector<Batch> e1 = run_epoch(l4, 1), tail = run_epoch(l, 1, 2);
  EXPECT_TRUE(same_batch(e1[0], l.build(1, 0), &what)) << what;
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_TRUE(same_batch(tail[0], e1[2], &what)) << what;
  // a labelled scene's points differ between two draws (fresh augmentation per draw)
  std::vector<Batch> e0 = run_epoch(l, 0);
  bool fresh = false;
  for (size_t i = 0; i < e0.size(); ++i)
    for (size_t j = i + 1; j < e0.size(); ++j)
      if (e0[i].scene_names.back() == e0[j].scene_names.back()) {
        const int64_t s = e0[i].num_scenes - 1;
        const int64_t ni = e0[i].point_offsets[size_t(s) + 1] - e0[i].point_offsets[size_t(s)];
        Tensor pi = e0[i].points.narrow(e0[i].point_offsets[size_t(s)], ni);
        Tensor pj = e0[j].points.narrow(e0[j].point_offsets[size_t(e0[j].num_scenes - 1)], ni);
        fresh = fresh || !leseg::testing::same_tensor(pi, pj);
      }
  EXPECT_TRUE(fresh);
  // clear errors: no split, L >= batch size, no labelled / no unlabelled scene
  LoaderOptions bad = o;
  bad.labels.labelled_scenes.reset();
  leseg::testing::expect_error([&] { Loader x(src, bad); }, {"labelled_per_batch", "split"});
  bad = o;
  bad.labelled_per_batch = 3;
  leseg::testing::expect_error([&] { Loader x(src, bad); }, {"labelled_per_batch", "batch_size"});
  bad = o;
  bad.labels.labelled_scenes = std::set<std::string>{"nope"};
  leseg::testing::expect_error([&] { Loader x(src, bad); }, {"no scene of the source is labelled"});
  bad = o;
  bad.labels.labelled_scenes = std::set<std::string>{"room0", "room1", "room2", "room3", "room4", "room5", "room6"};
  leseg::testing::expect_error([&] { Loader x(src, bad); }, {"every scene of the source is labelled"});
}

TEST(Loader, WeakViewLabelsAreDrawnOnTheFullImageBeforeCropping) {
  std::vector<Scene> sc = tiny_scenes(2);
  LoaderOptions o = small_options(0);
  o.shuffle = false;
  o.batch.augment.enabled = false;
  o.batch.views.crop = false;  // full views: the per view and class counts are exact
  o.batch.views.hflip = 0.0;
  o.labels.weak_view_spec = WeakLabelSpec::parse("5%", 3);
  Loader l(memory_source(sc), o);
  Batch b = l.build(0, 0);
  ASSERT_TRUE(b.view_labels_weak);
  ASSERT_TRUE(b.view_gt_labels.defined());
  const int64_t V = b.view_gt_labels.size(0), hw = b.view_gt_labels.size(1) * b.view_gt_labels.size(2);
  ASSERT_EQ(V, 4);
  std::vector<int32_t> w = b.view_gt_labels.to_vector<int32_t>();
  std::vector<int64_t> vs = b.view_scene.to(DType::i64).to_vector<int64_t>(), src = b.view_source.to(DType::i64).to_vector<int64_t>();
  int64_t kept_all = 0, full_all = 0;
  for (int64_t v = 0; v < V; ++v) {
    std::vector<int32_t> full = sc[size_t(vs[size_t(v)])].views[size_t(src[size_t(v)])].gt_labels.to_vector<int32_t>();
    ASSERT_EQ(int64_t(full.size()), hw);
    std::map<int32_t, int64_t> nf, nw;
    for (int64_t i = 0; i < hw; ++i) {
      if (full[size_t(i)] >= 0) ++nf[full[size_t(i)]];
      const int32_t y = w[size_t(v * hw + i)];
      if (y < 0) continue;
      ASSERT_EQ(y, full[size_t(i)]) << "view " << v << " pixel " << i;
      ++nw[y];
    }
    ASSERT_GT(nf.size(), 1u);
    for (auto& [c, n] : nf) {
      EXPECT_EQ(nw[c], std::max<int64_t>(n / 20, 1)) << "view " << v << " class " << c;
      kept_all += nw[c];
      full_all += n;
    }
  }
  EXPECT_LT(kept_all * 5, full_all);
  // the same pixels in another epoch (drawn on the scene, not on the epoch's crop)
  EXPECT_TRUE(leseg::testing::same_tensor(l.build(1, 0).view_gt_labels, b.view_gt_labels));
  // without the policy the labels are full and the batch says so
  LoaderOptions f = o;
  f.labels.weak_view_spec.reset();
  Batch bf = Loader(memory_source(sc), f).build(0, 0);
  EXPECT_FALSE(bf.view_labels_weak);
  int64_t nfull = 0;
  for (int32_t y : bf.view_gt_labels.to_vector<int32_t>()) nfull += y >= 0;
  EXPECT_EQ(nfull, full_all);
}

}  // namespace
}  // namespace leseg::io::loader
