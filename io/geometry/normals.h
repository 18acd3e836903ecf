// SPDX-License-Identifier: Apache-2.0
// Normals by PCA: the eigenvector of the smallest eigenvalue of the covariance of each point's k nearest
// neighbours (itself included), covariance accumulated in double. Orientation: towards `viewpoint`
// (n . (viewpoint - p) >= 0) when given (a camera or the LiDAR sensor), else towards +z (n_z >= 0; on
// n_z == 0 towards +y, then +x). Points with fewer than 3 neighbours get (0, 0, 1).
#pragma once
#include <array>
#include <optional>

#include "engine/tensor.h"

namespace leseg::io {

struct NormalOptions {
  int k = 16;
  float cell = 0.f;  // grid cell, 0 = auto
  std::optional<std::array<float, 3>> viewpoint;
};

// coords (N, 3) f32 (any device; computed on CPU) -> (N, 3) f32 unit normals, CPU.
Tensor estimate_normals(const Tensor& coords, const NormalOptions& opt = {});

}  // namespace leseg::io
