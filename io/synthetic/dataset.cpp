// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/dataset.h"

#include <filesystem>

#include "io/datasets/scene_io.h"
#include "io/synthetic/random.h"

namespace leseg::io::synth {

uint64_t scene_seed(uint64_t seed, const std::string& split, int index) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the split name
  for (unsigned char c : split) h = (h ^ c) * 1099511628211ull;
  return hash_combine(hash_combine(seed, h), uint64_t(index));
}

DatasetInfo write_synthetic_dataset(const std::string& root, const SyntheticDatasetOptions& opt) {
  LESEG_CHECK(opt.train_scenes >= 0 && opt.val_scenes >= 0, "write_synthetic_dataset: negative scene counts");
  std::filesystem::create_directories(std::filesystem::path(root) / "scenes");
  DatasetInfo info = opt.outdoor ? outdoor_dataset_info(opt.text_dim, opt.seed) : indoor_dataset_info(opt.text_dim, opt.seed);
  write_dataset_info(root, info);
  for (const auto& [split, count] : {std::pair<std::string, int>{"train", opt.train_scenes}, {"val", opt.val_scenes}}) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) {
      const uint64_t s = scene_seed(opt.seed, split, i);
      Scene scene = opt.outdoor ? generate_outdoor_scene(s, info.text_embeddings, opt.lidar)
                                : generate_indoor_scene(s, info.text_embeddings, opt.indoor);
      scene.name = split + "_" + std::to_string(i);
      write_scene((std::filesystem::path(root) / "scenes" / scene.name).string(), scene);
      names.push_back(scene.name);
    }
    write_split(root, split, names);
  }
  return info;
}

}  // namespace leseg::io::synth
