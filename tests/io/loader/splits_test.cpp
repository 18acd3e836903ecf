// SPDX-License-Identifier: Apache-2.0
// Splits and weak labels: counts exactly as the formulas, deterministic, file round trips, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "io/datasets/scene_io.h"
#include "io/loader/splits.h"
#include "io/synthetic/random.h"
#include "loader_fixtures.h"

namespace leseg::io::loader {
namespace {

std::vector<std::string> scene_names(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("scene" + std::to_string(1000 + i));
  return v;
}

TEST(SceneSplit, CountsFollowTheFormula) {
  for (int64_t n : {0, 1, 7, 99, 100, 1201})
    for (double f : {0.01, 0.05, 0.1, 1.0}) {
      const int64_t expect = n == 0 ? 0 : std::min<int64_t>(n, std::max<int64_t>(int64_t(std::floor(f * n)), 1));
      EXPECT_EQ(num_labelled_scenes(n, f), expect) << n << " " << f;
      std::vector<std::string> names = scene_names(int(n));
      std::vector<std::string> c = choose_labelled_scenes(names, f, 3);
      ASSERT_EQ(int64_t(c.size()), expect);
      std::set<std::string> u(c.begin(), c.end());
      EXPECT_EQ(u.size(), c.size());
      for (const std::string& s : c) EXPECT_TRUE(std::find(names.begin(), names.end(), s) != names.end());
    }
  EXPECT_EQ(num_labelled_scenes(1201, 0.01), 12);
  EXPECT_EQ(num_labelled_scenes(1201, 0.05), 60);
  EXPECT_EQ(num_labelled_scenes(1201, 0.10), 120);
  EXPECT_THROW(num_labelled_scenes(10, 0.0), Error);
  EXPECT_THROW(num_labelled_scenes(10, 1.5), Error);
  EXPECT_THROW(choose_labelled_scenes({"a", "a"}, 0.5, 0), Error);
}

TEST(SceneSplit, DeterministicSeededAndRoundTrips) {
  std::vector<std::string> names = scene_names(200);
  std::vector<std::string> a = choose_labelled_scenes(names, 0.05, 1), b = choose_labelled_scenes(names, 0.05, 1),
                           c = choose_labelled_scenes(names, 0.05, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));  // list order (names are sorted here)
  leseg::testing::TempDir dir;
  write_scene_split(dir.file("split.txt"), a, 0.05, 1, 200);
  EXPECT_EQ(read_scene_split(dir.file("split.txt")), a);
  // entry point over a dataset root
  write_split(dir.path.string(), "train", names);
  std::vector<std::string> d = make_scene_split_file(dir.path.string(), "train", 0.05, 1, dir.file("s5.txt"));
  EXPECT_EQ(d, a);
  EXPECT_EQ(read_scene_split(dir.file("s5.txt")), a);
  leseg::testing::expect_error([&] { read_scene_split(dir.file("missing.txt")); }, {"missing.txt"});
}

Tensor make_labels(const std::vector<int64_t>& per_class, uint64_t seed, int64_t ignored) {
  std::vector<int32_t> v;
  for (size_t c = 0; c < per_class.size(); ++c) v.insert(v.end(), size_t(per_class[c]), int32_t(c));
  v.insert(v.end(), size_t(ignored), -1);
  synth::Rng rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(rng.below(i))]);
  return Tensor::from_vector(v, Shape{int64_t(v.size())});
}

TEST(WeakLabels, PerClassCountsFollowTheFormula) {
  const std::vector<int64_t> per_class = {1, 7, 99, 100, 101, 1234, 0, 250};
  Tensor lab = make_labels(per_class, 3, 57);
  std::vector<int32_t> lv = lab.to_vector<int32_t>();
  for (double r : {0.01, 0.001, 0.1}) {
    WeakLabelSpec spec;
    spec.ratio = r;
    spec.seed = 4;
    std::vector<int64_t> keep = weak_label_indices(lab, "sceneA", spec);
    EXPECT_TRUE(std::is_sorted(keep.begin(), keep.end()));
    std::map<int32_t, int64_t> got;
    for (int64_t i : keep) {
      ASSERT_GE(lv[size_t(i)], 0) << "kept an ignored point";
      ++got[lv[size_t(i)]];
    }
    for (size_t c = 0; c < per_class.size(); ++c) {
      const int64_t n = per_class[c], expect = n == 0 ? 0 : std::max<int64_t>(int64_t(std::floor(r * double(n))), 1);
      EXPECT_EQ(got[int32_t(c)], expect) << "ratio " << r << " class " << c;
    }
    // deterministic per (seed, name); another name or seed draws other points
    EXPECT_EQ(weak_label_indices(lab, "sceneA", spec), keep);
    if (r == 0.1) {
      EXPECT_NE(weak_label_indices(lab, "sceneB", spec), keep);
      spec.seed = 5;
      EXPECT_NE(weak_label_indices(lab, "sceneA", spec), keep);
    }
  }
  // apply: only kept points keep their label
  WeakLabelSpec spec = WeakLabelSpec::parse("0.01", 4);
  std::vector<int64_t> keep = weak_label_indices(lab, "sceneA", spec);
  std::vector<int32_t> w = apply_weak_labels(lab, keep).to_vector<int32_t>();
  std::set<int64_t> ks(keep.begin(), keep.end());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i], ks.count(int64_t(i)) ? lv[i] : -1);
}

TEST(WeakLabels, PointsPerSceneAndParsing) {
  Tensor lab = make_labels({30, 5, 0, 12}, 8, 40);
  WeakLabelSpec s = WeakLabelSpec::parse("20pts", 2);
  EXPECT_EQ(s.points_per_scene, 20);
  std::vector<int64_t> keep = weak_label_indices(lab, "x", s);
  EXPECT_EQ(keep.size(), 20u);
  std::vector<int32_t> lv = lab.to_vector<int32_t>();
  for (int64_t i : keep) EXPECT_GE(lv[size_t(i)], 0);
  s.points_per_scene = 200;  // more than the 47 labelled points: all of them
  EXPECT_EQ(weak_label_indices(lab, "x", s).size(), 47u);
  EXPECT_DOUBLE_EQ(WeakLabelSpec::parse("1%").ratio, 0.01);
  EXPECT_DOUBLE_EQ(WeakLabelSpec::parse("0.1%").ratio, 0.001);
  EXPECT_DOUBLE_EQ(WeakLabelSpec::parse("0.001").ratio, 0.001);
  EXPECT_EQ(WeakLabelSpec::parse("20points").points_per_scene, 20);
  for (const char* bad : {"", "abc", "1.5", "0", "-3pts", "1%%", "2x"})
    leseg::testing::expect_error([&] { WeakLabelSpec::parse(bad); }, {"weak labels"});
}

TEST(WeakLabels, TableRoundTripAndDatasetEntryPoint) {
  leseg::testing::TempDir dir;
  std::vector<Scene> sc = leseg::testing::tiny_scenes(2);
  std::vector<std::string> names;
  for (const Scene& s : sc) {
    Scene g = s;
    g.views.clear();
    write_scene(dir.file("scenes/" + s.name), g);
    names.push_back(s.name);
  }
  write_split(dir.path.string(), "train", names);
  WeakLabelSpec spec = WeakLabelSpec::parse("1%", 11);
  WeakLabelTable t = make_weak_label_file(dir.path.string(), "train", spec, dir.file("weak.txt"));
  ASSERT_EQ(t.size(), 2u);
  for (const Scene& s : sc) EXPECT_EQ(t[s.name], weak_label_indices(s.labels, s.name, spec));
  EXPECT_GT(t["room0"].size(), 3u);
  EXPECT_EQ(read_weak_labels(dir.file("weak.txt")), t);
  leseg::testing::write_bytes(dir.file("bad.txt"), "# c\nroom0 1 2 x\n");
  leseg::testing::expect_error([&] { read_weak_labels(dir.file("bad.txt")); }, {"bad.txt", ":2", "'x'"});
  leseg::testing::write_bytes(dir.file("dup.txt"), "a 1\na 2\n");
  leseg::testing::expect_error([&] { read_weak_labels(dir.file("dup.txt")); }, {"listed twice"});
}

}  // namespace
}  // namespace leseg::io::loader

namespace leseg::io::loader {
namespace {

// ERDA: weak labels drawn on the 0.04 m grid-subsampled cloud ("20pts@0.04"): at most one labelled point per
// occupied cell, the count as requested, deterministic; a grid without coordinates is a clear error.
TEST(WeakLabels, GridSubsampledCloud) {
  // 400 points: 4 cells of 0.04 m (100 points each, jittered inside), labels alternate 0 / 1.
  std::vector<float> xyz;
  std::vector<int32_t> lab;
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 100; ++i) {
      xyz.insert(xyz.end(), {0.04f * float(c) + 0.0003f * float(i % 97) + 0.001f, 0.01f, 0.01f});
      lab.push_back(i % 2);
    }
  const Tensor coords = Tensor::from_vector(xyz, Shape{400, 3}), labels = Tensor::from_vector(lab, Shape{400});
  const WeakLabelSpec spec = WeakLabelSpec::parse("20pts@0.04", 3);
  EXPECT_DOUBLE_EQ(spec.grid, 0.04);
  EXPECT_EQ(spec.points_per_scene, 20);
  const std::vector<int64_t> keep = weak_label_indices(labels, "room", spec, coords);
  ASSERT_EQ(keep.size(), 4u);  // only 4 cells: 4 candidates
  std::set<int64_t> cells;
  for (int64_t i : keep) cells.insert(i / 100);
  EXPECT_EQ(cells.size(), 4u);
  EXPECT_EQ(keep, weak_label_indices(labels, "room", spec, coords));
  EXPECT_EQ(weak_label_indices(labels, "room", WeakLabelSpec::parse("20pts", 3)).size(), 20u);  // raw points
  EXPECT_THROW(weak_label_indices(labels, "room", spec), Error);
  EXPECT_THROW(WeakLabelSpec::parse("20pts@x", 3), Error);
  EXPECT_NE(spec.str().find("grid"), std::string::npos);
}

}  // namespace
}  // namespace leseg::io::loader
