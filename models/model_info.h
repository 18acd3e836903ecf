// SPDX-License-Identifier: Apache-2.0
// Static description of a backbone's stages (for `leseg model info` and tests) and the trace a forward can
// fill with the actual row counts of each stage output.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::models {

struct StageInfo {
  std::string name;           // e.g. "block3", "convtr5p8s2", "point_transforms.1"
  int32_t tensor_stride = 1;  // of the stage output (0 for per-point stages)
  int64_t in_channels = 0, out_channels = 0;
  int blocks = 0;             // residual blocks in the stage (0 for plain conv/linear stages)
  int64_t parameters = 0;
};

struct StageTrace {
  std::string name;
  int32_t tensor_stride = 1;
  int64_t rows = 0;      // voxels (or points) of the stage output
  int64_t channels = 0;
};

}  // namespace leseg::models
