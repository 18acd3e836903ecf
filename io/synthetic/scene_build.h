// SPDX-License-Identifier: Apache-2.0
// Shared last step of the generators: turn sampled points + cameras into a Scene (tensors), rendering
// every camera and attaching the foundation-model stand-ins.
#pragma once
#include <string>
#include <vector>

#include "io/scene.h"
#include "io/synthetic/primitives.h"
#include "io/synthetic/stand_ins.h"

namespace leseg::io::synth {

struct SceneBuild {
  std::string name;
  std::vector<Box> boxes;
  PointCloud points;
  std::vector<Camera> cameras;
};

struct SceneBuildOptions {
  bool rgbd = true;  // false (LiDAR): views carry no depth map
  bool geometric_segments = true;
  StandInOptions stand_ins;
};

Scene build_scene(const SceneBuild& sb, const Tensor& text_embeddings, uint64_t seed, const SceneBuildOptions& opt);

}  // namespace leseg::io::synth
