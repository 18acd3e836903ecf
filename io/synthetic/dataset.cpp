// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/dataset.h"

#include <filesystem>

#include "io/datasets/scene_io.h"
#include "io/synthetic/parallel.h"
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
  const int counts[2] = {opt.train_scenes, opt.val_scenes};
  const std::string splits[2] = {"train", "val"};
  parallel_for_scenes(int64_t(counts[0]) + counts[1], opt.threads, [&](int64_t job) {
    const int s = job < counts[0] ? 0 : 1;
    const int i = int(s == 0 ? job : job - counts[0]);
    const uint64_t seed = scene_seed(opt.seed, splits[s], i);
    Scene scene = opt.outdoor ? generate_outdoor_scene(seed, info.text_embeddings, opt.lidar)
                              : generate_indoor_scene(seed, info.text_embeddings, opt.indoor);
    scene.name = splits[s] + "_" + std::to_string(i);
    write_scene((std::filesystem::path(root) / "scenes" / scene.name).string(), scene);
  });
  for (int s = 0; s < 2; ++s) {
    std::vector<std::string> names;
    for (int i = 0; i < counts[s]; ++i) names.push_back(splits[s] + "_" + std::to_string(i));
    write_split(root, splits[s], names);
  }
  return info;
}

}  // namespace leseg::io::synth
