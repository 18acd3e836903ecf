// SPDX-License-Identifier: Apache-2.0
// Small scenes for the loader tests: tiny synthetic rooms (few thousand points, two small views, crops of
// 24 x 32 keeping > 64 pairs) and hand-made scenes, plus batch comparison helpers.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/loader/loader.h"
#include "io/synthetic/generator.h"
#include "tests/io/formats/test_util.h"

namespace leseg::testing {

inline io::synth::IndoorOptions tiny_indoor() {
  io::synth::IndoorOptions o;
  o.height = 48;
  o.width = 64;
  o.num_views = 2;
  o.point_density = 40.0;
  o.clutter = 0.3;
  return o;
}

inline const Tensor& tiny_text() {
  static const Tensor t = io::synth::indoor_dataset_info(16, 0).text_embeddings;
  return t;
}

inline std::vector<io::Scene> tiny_scenes(int n, uint64_t seed = 7) {
  static std::vector<io::Scene> cache;
  static uint64_t cache_seed = ~0ull;
  if (cache_seed != seed || int(cache.size()) < n) {
    cache.clear();
    for (int i = 0; i < n; ++i) {
      io::Scene s = io::synth::generate_indoor_scene(seed * 1000 + uint64_t(i), tiny_text(), tiny_indoor());
      s.name = "room" + std::to_string(i);
      cache.push_back(s);
    }
    cache_seed = seed;
  }
  return std::vector<io::Scene>(cache.begin(), cache.begin() + n);
}

inline io::loader::BatchOptions tiny_batch_options() {
  io::loader::BatchOptions o = io::loader::BatchOptions::indoor();
  o.views.crop_options.out_height = 24;
  o.views.crop_options.out_width = 32;
  o.views.crop_options.min_pairs = 64;
  return o;
}

inline bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return a.nbytes() == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

// Every field, bit for bit; `what` names the first difference.
inline bool same_batch(const io::loader::Batch& a, const io::loader::Batch& b, std::string* what) {
  auto diff = [&](const char* f) {
    *what = f;
    return false;
  };
  if (a.scene_names != b.scene_names) return diff("scene_names");
  if (a.point_offsets != b.point_offsets) return diff("point_offsets");
  if (a.voxel_offsets != b.voxel_offsets) return diff("voxel_offsets");
  if (a.sam_offsets != b.sam_offsets) return diff("sam_offsets");
  if (a.scene_labelled != b.scene_labelled) return diff("scene_labelled");
  if (!same_tensor(a.input.coords(), b.input.coords())) return diff("input.coords");
  if (!same_tensor(a.input.feats(), b.input.feats())) return diff("input.feats");
  const std::pair<const char*, const Tensor io::loader::Batch::*> fields[] = {
      {"inverse", &io::loader::Batch::inverse},           {"voxel_counts", &io::loader::Batch::voxel_counts},
      {"voxel_labels", &io::loader::Batch::voxel_labels}, {"points", &io::loader::Batch::points},
      {"point_batch", &io::loader::Batch::point_batch},   {"point_feats", &io::loader::Batch::point_feats},
      {"labels", &io::loader::Batch::labels},             {"pseudo_labels", &io::loader::Batch::pseudo_labels},
      {"point_sam_ids", &io::loader::Batch::point_sam_ids}, {"segments", &io::loader::Batch::segments},
      {"pairs", &io::loader::Batch::pairs},               {"view_scene", &io::loader::Batch::view_scene},
      {"view_source", &io::loader::Batch::view_source},   {"images", &io::loader::Batch::images},
      {"view_clip_labels", &io::loader::Batch::view_clip_labels},
      {"view_sam_masks", &io::loader::Batch::view_sam_masks},
      {"view_sam_features", &io::loader::Batch::view_sam_features},
      {"view_clip_features", &io::loader::Batch::view_clip_features},
      {"caption_scene", &io::loader::Batch::caption_scene},
      {"caption_objects", &io::loader::Batch::caption_objects},
      {"caption_object_ids", &io::loader::Batch::caption_object_ids},
  };
  for (const auto& [name, f] : fields)
    if (!same_tensor(a.*f, b.*f)) return diff(name);
  if (bool(a.teacher) != bool(b.teacher)) return diff("teacher");
  if (a.teacher && !same_batch(*a.teacher, *b.teacher, what)) {
    *what = "teacher." + *what;
    return false;
  }
  return true;
}

}  // namespace leseg::testing
