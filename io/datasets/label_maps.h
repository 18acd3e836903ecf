// SPDX-License-Identifier: Apache-2.0
// Dataset label conventions mapped to leseg's: classes 0..C-1, -1 = ignore.
//   ScanNet 20: NYU40 ids {1,2,3,4,5,6,7,8,9,10,11,12,14,16,24,28,33,34,36,39} -> 0..19, others -> -1
//     (CLIP2Scene uses the same order with 0 = ignore and 1..20; ours is theirs minus 1).
//   SemanticKITTI 19: raw id (label & 0xFFFF) -> learning_map (0 = unlabeled, 1..19) -> minus 1.
//     The built-in table equals the dataset yaml's learning_map; unknown raw ids -> -1 (counted).
//   nuScenes lidarseg 32 -> 16: CLIP2Scene's table (0 = ignore, 1..16) minus 1.
//   S3DIS 13: class names from Annotations/<class>_<k>.txt; "stairs" and unknown names -> clutter.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::io {

const std::vector<std::string>& scannet20_classes();
const std::vector<int>& scannet20_nyu40_ids();
int nyu40_to_scannet20(int nyu40_id);  // -1 when not one of the 20

// scannetv2-labels.combined.tsv: raw_category -> nyu40id (header names the columns).
std::map<std::string, int> read_scannet_label_tsv(const std::string& path);

const std::vector<std::string>& semantickitti_classes();
// raw id -> learning id (0 = unlabeled, 1..19), the semantic-kitti.yaml table.
const std::map<int, int>& semantickitti_learning_map();
// Reads learning_map from a dataset yaml (semantic-kitti.yaml); throws naming the file on bad content.
std::map<int, int> read_learning_map_yaml(const std::string& path);

const std::vector<std::string>& nuscenes16_classes();
int nuscenes_lidarseg_to16(int raw_id);  // -1 = ignore

const std::vector<std::string>& s3dis_classes();
int s3dis_class_index(const std::string& name);  // unknown -> clutter (12)

// Applies a raw -> learning map (learning 0 = ignore) and shifts to leseg's -1 = ignore convention.
// Raw ids absent from the map become -1 and are counted in *unknown.
Tensor map_labels(const std::vector<int64_t>& raw, const std::map<int, int>& learning_map, int64_t* unknown = nullptr);

}  // namespace leseg::io
