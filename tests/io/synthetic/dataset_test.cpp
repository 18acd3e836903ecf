// SPDX-License-Identifier: Apache-2.0
// A generated dataset written through scene_io reads back with the same points, labels and stand-ins.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "io/datasets/scene_io.h"
#include "io/synthetic/dataset.h"

using namespace leseg;
using namespace leseg::io;

TEST(SyntheticDataset, WritesAndReadsBack) {
  const std::string root = (std::filesystem::temp_directory_path() / ("leseg_synth_ds_" + std::to_string(::getpid()))).string();
  synth::SyntheticDatasetOptions o;
  o.train_scenes = 2;
  o.val_scenes = 1;
  o.text_dim = 16;
  o.indoor.height = 48; o.indoor.width = 64; o.indoor.num_views = 2; o.indoor.point_density = 80;
  DatasetInfo info = synth::write_synthetic_dataset(root, o);
  EXPECT_EQ(read_split(root, "train"), (std::vector<std::string>{"train_0", "train_1"}));
  EXPECT_EQ(read_split(root, "val"), (std::vector<std::string>{"val_0"}));
  DatasetInfo back = read_dataset_info(root);
  EXPECT_EQ(back.classes, info.classes);
  Scene direct = synth::generate_indoor_scene(synth::scene_seed(0, "train", 1), info.text_embeddings, o.indoor);
  Scene read = read_scene(root + "/scenes/train_1");
  ASSERT_EQ(read.num_points(), direct.num_points());
  EXPECT_EQ(read.labels.to_vector<int32_t>(), direct.labels.to_vector<int32_t>());
  EXPECT_EQ(read.coords.to_vector<float>(), direct.coords.to_vector<float>());
  ASSERT_EQ(read.views.size(), 2u);
  EXPECT_EQ(read.views[1].clip_labels.to_vector<int32_t>(), direct.views[1].clip_labels.to_vector<int32_t>());
  EXPECT_EQ(read.views[1].sam_masks.to_vector<int32_t>(), direct.views[1].sam_masks.to_vector<int32_t>());
  std::filesystem::remove_all(root);
}
