// SPDX-License-Identifier: Apache-2.0
// Label maps: the exact NYU40 -> ScanNet 20, SemanticKITTI and nuScenes tables from REFERENCE-CODE.md §1.4,
// the yaml learning_map (shared sample) equal to the built-in table, and the ScanNet tsv reader.
#include <gtest/gtest.h>

#include "io/datasets/label_maps.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;

TEST(LabelMaps, Nyu40ToScanNet20) {
  const int ids[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39};
  for (int k = 0; k < 20; ++k) EXPECT_EQ(nyu40_to_scannet20(ids[k]), k);
  int mapped = 0;
  for (int id = -5; id <= 45; ++id) mapped += nyu40_to_scannet20(id) >= 0;
  EXPECT_EQ(mapped, 20);
  for (int id : {0, 13, 15, 17, 40, 41}) EXPECT_EQ(nyu40_to_scannet20(id), -1) << id;
  EXPECT_EQ(scannet20_classes().size(), 20u);
  EXPECT_EQ(scannet20_classes()[4], "chair");
  EXPECT_EQ(scannet20_classes()[19], "otherfurniture");
}

TEST(LabelMaps, SemanticKittiTable) {
  // REFERENCE-CODE.md §1.4 (CLIP2Scene, 0 = ignore) — ours is that minus 1.
  const std::map<int, int> ref = {{10, 1},  {11, 2},  {13, 5},  {15, 3},  {16, 5},  {18, 4},  {20, 5},  {30, 6},
                                  {31, 7},  {32, 8},  {40, 9},  {44, 10}, {48, 11}, {49, 12}, {50, 13}, {51, 14},
                                  {52, 0},  {60, 9},  {70, 15}, {71, 16}, {72, 17}, {80, 18}, {81, 19}, {99, 0},
                                  {252, 1}, {253, 7}, {254, 6}, {255, 8}, {256, 5}, {257, 5}, {258, 4}, {259, 5}};
  const auto& lm = semantickitti_learning_map();
  for (auto& [raw, l] : ref) EXPECT_EQ(lm.at(raw), l) << raw;
  EXPECT_EQ(lm.at(0), 0);
  EXPECT_EQ(lm.at(1), 0);
  std::vector<int64_t> raw = {0, 10, 40, 252, 81, 12345, 99};
  int64_t unknown = 0;
  EXPECT_EQ(map_labels(raw, lm, &unknown).to_vector<int32_t>(), (std::vector<int32_t>{-1, 0, 8, 0, 18, -1, -1}));
  EXPECT_EQ(unknown, 1);
  EXPECT_EQ(semantickitti_classes().size(), 19u);
  EXPECT_EQ(semantickitti_classes()[8], "road");
}

TEST(LabelMaps, SemanticKittiYamlMatchesBuiltIn) {
  LESEG_REQUIRE_SHARED_DATA(dir, "semantickitti/semantic-kitti.yaml");
  std::map<int, int> y = read_learning_map_yaml(dir);
  EXPECT_EQ(y, semantickitti_learning_map());
}

TEST(LabelMaps, YamlErrors) {
  leseg::testing::TempDir d;
  leseg::testing::write_bytes(d.file("a.yaml"), "labels:\n  0: x\n");
  expect_error([&] { read_learning_map_yaml(d.file("a.yaml")); }, {"a.yaml", "no 'learning_map'"});
  leseg::testing::write_bytes(d.file("b.yaml"), "learning_map:\n  0: 0\n  car: 1\n");
  expect_error([&] { read_learning_map_yaml(d.file("b.yaml")); }, {"b.yaml", "line 3"});
  leseg::testing::write_bytes(d.file("c.yaml"), "learning_map: [unclosed\n");
  expect_error([&] { read_learning_map_yaml(d.file("c.yaml")); }, {"c.yaml", "cannot parse"});
}

TEST(LabelMaps, NuScenes32To16) {
  // {2,3,4,6}->7, 9->1, 12->8, 14->2, 15,16->3, 17->4, 18->5, 21->6, 22->9, ..., 28->15, 30->16 (minus 1)
  const std::map<int, int> ref = {{2, 7},   {3, 7},   {4, 7},   {6, 7},   {9, 1},   {12, 8},  {14, 2},
                                  {15, 3},  {16, 3},  {17, 4},  {18, 5},  {21, 6},  {22, 9},  {23, 10},
                                  {24, 11}, {25, 12}, {26, 13}, {27, 14}, {28, 15}, {30, 16}};
  for (int raw = 0; raw <= 31; ++raw) {
    auto it = ref.find(raw);
    EXPECT_EQ(nuscenes_lidarseg_to16(raw), it == ref.end() ? -1 : it->second - 1) << raw;
  }
  EXPECT_EQ(nuscenes16_classes()[0], "barrier");
  EXPECT_EQ(nuscenes16_classes()[15], "vegetation");
}

TEST(LabelMaps, S3disAndTsv) {
  EXPECT_EQ(s3dis_classes().size(), 13u);
  EXPECT_EQ(s3dis_class_index("ceiling"), 0);
  EXPECT_EQ(s3dis_class_index("board"), 11);
  EXPECT_EQ(s3dis_class_index("stairs"), 12);
  leseg::testing::TempDir d;
  leseg::testing::write_bytes(d.file("l.tsv"), "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\n1\twall\twall\t8277\t1\t12\n"
                                               "2\tchair\tchair\t4646\t5\t4\n3\tkitchen counter\tcounter\t10\t12\t6\n");
  auto m = read_scannet_label_tsv(d.file("l.tsv"));
  EXPECT_EQ(m.at("chair"), 5);
  EXPECT_EQ(m.at("kitchen counter"), 12);
  leseg::testing::write_bytes(d.file("bad.tsv"), "id\tcategory\n1\twall\n");
  expect_error([&] { read_scannet_label_tsv(d.file("bad.tsv")); }, {"bad.tsv", "raw_category"});
}
