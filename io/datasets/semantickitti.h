// SPDX-License-Identifier: Apache-2.0
// SemanticKITTI: velodyne/<id>.bin (float32 x, y, z, remission per point), labels/<id>.label (uint32:
// semantic = & 0xFFFF, instance = >> 16), the dataset yaml's learning_map (raw -> 0..19, 0 = unlabeled),
// calib.txt ("P0: 12 floats" ... "Tr: 12 floats", 3x4 row-major) and poses.txt (12 floats per scan,
// camera-0 pose in the sequence frame). Scene labels: learning_map - 1 (so unlabeled -> -1); raw ids absent
// from the map -> -1, counted in the report. Points with non-finite coordinates are dropped (counted).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "io/formats/point_cloud.h"
#include "io/scene.h"

namespace leseg::io {

struct KittiReport {
  ReadReport points;
  int64_t unknown_raw_labels = 0;
};

// `label_path` may be empty (no labels). `learning_map` empty -> the built-in table.
Scene read_semantickitti_scan(const std::string& bin_path, const std::string& label_path,
                              const std::map<int, int>& learning_map = {}, KittiReport* report = nullptr);
// Raw semantic (& 0xFFFF) and instance (>> 16) ids of a .label file; `expected` points (or -1 = any).
void read_kitti_label_file(const std::string& path, int64_t expected, std::vector<int64_t>* semantic,
                           std::vector<int64_t>* instance);

struct KittiCalib {
  std::map<std::string, Tensor> matrices;  // name ("P0".."P3", "Tr") -> (3, 4) f32
  // Tr as a 4x4 (velodyne -> camera 0); throws if absent.
  Tensor velo_to_cam() const;
};
KittiCalib read_kitti_calib(const std::string& path);
// (S, 4, 4) f32 poses (bottom row 0 0 0 1).
Tensor read_kitti_poses(const std::string& path);

// Sequence folder (sequences/<nn>) -> scan ids present in velodyne/ (sorted).
std::vector<std::string> list_kitti_scans(const std::string& sequence_dir);

}  // namespace leseg::io
