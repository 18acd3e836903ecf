// SPDX-License-Identifier: Apache-2.0
// Inference on one scene: a scene directory in leseg's layout (io/scene.h) or a .ply point cloud
// (x, y, z and optionally red, green, blue). Writes <out>/<scene>_labels.npy ((N,) i32 class per point) and
// <out>/<scene>_pred.ply (x, y, z, red, green, blue = class colour, label; plus gt when the scene has labels).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/scene.h"
#include "train/job.h"

namespace leseg::train {

struct InferResult {
  int64_t points = 0;
  std::string labels_path, ply_path;
  std::vector<int64_t> class_histogram;  // predicted points per class
};

io::Scene read_scene_any(const std::string& path);
// Fixed, distinct colour of class c (ScanNet-like palette, cycled beyond it).
void class_color(int c, uint8_t rgb[3]);
InferResult infer_scene(Job& job, const std::string& scene_path, const std::string& out_dir);

}  // namespace leseg::train
