// SPDX-License-Identifier: Apache-2.0
// Data preprocessed by Pointcept: <root>/<split>/<scene>/coord.npy (N,3) f4|f8, color.npy (N,3) u1|f4
// (0..255), normal.npy (N,3), segment20.npy | segment.npy | segment200.npy (N,) i2|i4|i8 with -1 ignore,
// instance.npy (N,) (-1 none). Labels outside [-1, num_classes) are mapped to -1 and counted.
#pragma once
#include <string>
#include <vector>

#include "io/formats/point_cloud.h"
#include "io/scene.h"

namespace leseg::io {

struct PointceptOptions {
  // Label files tried in order; the first present is used.
  std::vector<std::string> segment_files = {"segment20.npy", "segment.npy"};
  int num_classes = 20;  // for the out-of-range check (<= 0: no check)
};

Scene read_pointcept_scene(const std::string& scene_dir, const PointceptOptions& opt = {}, ReadReport* report = nullptr);
// Scene folder names under <root>/<split> (sorted).
std::vector<std::string> list_pointcept_scenes(const std::string& root, const std::string& split);

}  // namespace leseg::io
