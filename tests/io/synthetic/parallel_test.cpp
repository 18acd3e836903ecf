// SPDX-License-Identifier: Apache-2.0
// Scene-level parallelism: batches and written datasets are byte-identical for 1 and several threads (and
// to the single-scene call), every index runs exactly once, errors propagate, inner OpenMP is capped.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <unistd.h>

#include "io/synthetic/dataset.h"
#include "io/synthetic/generator.h"
#include "io/synthetic/parallel.h"

using namespace leseg;
using namespace leseg::io;
using namespace leseg::io::synth;
namespace fs = std::filesystem;

namespace {
// Empty string when equal, else the first differing field.
std::string diff_bytes(const std::string& what, const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return what + ": defined differs";
  if (!a.defined()) return "";
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return what + ": shape/dtype " + a.shape().str() + " vs " + b.shape().str();
  const auto* x = static_cast<const unsigned char*>(a.data_ptr());
  const auto* y = static_cast<const unsigned char*>(b.data_ptr());
  for (size_t i = 0; i < size_t(a.nbytes()); ++i)
    if (x[i] != y[i]) return what + ": first differing byte " + std::to_string(i) + " of " + std::to_string(a.nbytes());
  return "";
}
std::string diff_scene(const Scene& a, const Scene& b) {
  std::string d;
  auto f = [&](const std::string& w, const Tensor& x, const Tensor& y) { if (d.empty()) d = diff_bytes(w, x, y); };
  f("coords", a.coords, b.coords); f("colors", a.colors, b.colors); f("normals", a.normals, b.normals);
  f("labels", a.labels, b.labels); f("instances", a.instances, b.instances); f("segments", a.segments, b.segments);
  f("intensity", a.intensity, b.intensity);
  if (d.empty() && a.views.size() != b.views.size()) d = "view count";
  for (size_t v = 0; d.empty() && v < a.views.size(); ++v) {
    const View &x = a.views[v], &y = b.views[v];
    const std::string p = "view " + std::to_string(v) + " ";
    f(p + "image", x.image, y.image); f(p + "depth", x.depth, y.depth); f(p + "intrinsics", x.intrinsics, y.intrinsics);
    f(p + "pose", x.cam_to_world, y.cam_to_world); f(p + "clip", x.clip_labels, y.clip_labels);
    f(p + "sam", x.sam_masks, y.sam_masks); f(p + "sam_features", x.sam_features, y.sam_features);
    f(p + "gt", x.gt_labels, y.gt_labels); f(p + "caption_scene", x.caption_scene, y.caption_scene);
    f(p + "caption_objects", x.caption_objects, y.caption_objects);
    f(p + "caption_ids", x.caption_object_ids, y.caption_object_ids);
  }
  return d;
}
IndoorOptions tiny_full_room() {  // views, stand-ins and over-segmentation all on, small sizes
  IndoorOptions o;
  o.height = 40; o.width = 56; o.num_views = 2; o.point_density = 120;
  return o;
}
std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      files[fs::relative(e.path(), root).string()] = std::string(std::istreambuf_iterator<char>(in), {});
    }
  return files;
}
}  // namespace

TEST(SyntheticParallel, IndoorBatchIsByteIdenticalForAnyThreadCount) {
  const Tensor text = indoor_dataset_info(16, 3).text_embeddings;
  const std::vector<uint64_t> seeds = {5, 17, 2, 40, 41};
  std::vector<Scene> one = generate_indoor_scenes(seeds, text, tiny_full_room(), 1);
  std::vector<Scene> three = generate_indoor_scenes(seeds, text, tiny_full_room(), 3);
  ASSERT_EQ(one.size(), seeds.size());
  ASSERT_EQ(three.size(), seeds.size());
  for (size_t i = 0; i < seeds.size(); ++i) {
    EXPECT_GT(one[i].num_points(), 500) << "scene " << i;
    ASSERT_EQ(one[i].views.size(), 2u);
    ASSERT_TRUE(one[i].segments.defined());
    EXPECT_EQ(diff_scene(one[i], three[i]), "") << "scene " << i << " (seed " << seeds[i] << "), 1 vs 3 threads";
    EXPECT_EQ(diff_scene(one[i], generate_indoor_scene(seeds[i], text, tiny_full_room())), "") << "scene " << i;
  }
  EXPECT_NE(diff_scene(one[0], one[1]), "");  // different seeds give different scenes
}

TEST(SyntheticParallel, OutdoorBatchIsByteIdenticalForAnyThreadCount) {
  const Tensor text = outdoor_dataset_info(16, 0).text_embeddings;
  OutdoorOptions o;
  o.height = 32; o.width = 48; o.beams = 8; o.azimuth_steps = 128;
  const std::vector<uint64_t> seeds = {1, 2, 3};
  std::vector<Scene> one = generate_outdoor_scenes(seeds, text, o, 1);
  std::vector<Scene> two = generate_outdoor_scenes(seeds, text, o, 2);
  for (size_t i = 0; i < seeds.size(); ++i) {
    EXPECT_GT(one[i].num_points(), 100) << "scene " << i;
    EXPECT_EQ(diff_scene(one[i], two[i]), "") << "outdoor scene " << i;
  }
}

TEST(SyntheticParallel, WrittenDatasetIsByteIdenticalForAnyThreadCount) {
  const fs::path base = fs::temp_directory_path() / ("leseg_synth_par_" + std::to_string(::getpid()));
  SyntheticDatasetOptions o;
  o.train_scenes = 3;
  o.val_scenes = 2;
  o.text_dim = 16;
  o.seed = 11;
  o.indoor = tiny_full_room();
  o.threads = 1;
  write_synthetic_dataset((base / "t1").string(), o);
  o.threads = 4;
  write_synthetic_dataset((base / "t4").string(), o);
  const auto a = read_tree(base / "t1"), b = read_tree(base / "t4");
  EXPECT_GT(a.size(), 5u * 10u);  // 5 scenes x (points + views) files, plus dataset files
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    auto it = b.find(name);
    ASSERT_TRUE(it != b.end()) << name << " missing with 4 threads";
    EXPECT_FALSE(bytes.empty()) << name;
    EXPECT_TRUE(bytes == it->second) << name << " differs between 1 and 4 threads";
  }
  EXPECT_EQ(a.at("train.txt"), b.at("train.txt"));
  fs::remove_all(base);
}

TEST(SyntheticParallel, EveryIndexRunsOnceAndInnerOpenMpIsCapped) {
  for (int threads : {1, 2, 3, 8}) {
    for (int64_t count : {0, 1, 2, 7, 40}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      std::atomic<int> max_inner{0};
      parallel_for_scenes(count, threads, [&](int64_t i) {
        hits[size_t(i)].fetch_add(1);
        int m = max_inner.load();
        const int cur = omp_get_max_threads();
        while (cur > m && !max_inner.compare_exchange_weak(m, cur)) {}
      });
      for (int64_t i = 0; i < count; ++i) EXPECT_EQ(hits[size_t(i)].load(), 1) << "index " << i << " threads " << threads;
      const int workers = int(std::min<int64_t>(threads, count));
      if (workers > 1) {
        EXPECT_LE(max_inner.load() * workers, threads) << "threads " << threads << " count " << count;
      }
    }
  }
}

TEST(SyntheticParallel, FirstErrorIsRethrown) {
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_for_scenes(50, 3,
                                   [&](int64_t i) {
                                     ran.fetch_add(1);
                                     if (i == 4) throw std::runtime_error("scene 4 failed");
                                   }),
               std::runtime_error);
  EXPECT_GE(ran.load(), 5);
  EXPECT_THROW(parallel_for_scenes(3, 1, [](int64_t) { LESEG_FAIL("serial failure"); }), leseg::Error);
  EXPECT_EQ(resolve_threads(5), 5);
  EXPECT_GE(resolve_threads(0), 1);
}
