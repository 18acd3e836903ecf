// SPDX-License-Identifier: Apache-2.0
// Per-point voxel math shared by CPU and CUDA: voxel index floor(p * inv_size), trilinear corners/weights.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/coord_hash/coord_hash_math.h"

namespace leseg::kernels::vox {

// floor(p * inv) as int64 (saturated far outside the coordinate range so the range check sees it).
LESEG_HD int64_t voxel_index(double p, double inv) {
  const double v = floor(p * inv);
  if (!(v > -4e9)) return int64_t(-4000000000LL);  // also NaN
  if (v > 4e9) return int64_t(4000000000LL);
  return int64_t(v);
}

// Trilinear corner c in [0, 8): offsets (c & 1, (c >> 1) & 1, c >> 2); base = floor(u), frac = u - base.
// Returns the weight prod(1 - |u - corner|) and writes the corner coordinate (times `stride`).
LESEG_HD double trilinear_corner(const double u[3], int c, int32_t stride, int64_t corner[3]) {
  double w = 1.0;
  for (int d = 0; d < 3; ++d) {
    const double b = floor(u[d]);
    const int o = (c >> d) & 1;
    const double f = u[d] - b;
    w *= o ? f : 1.0 - f;
    corner[d] = (int64_t(b) + o) * stride;
  }
  return w;
}

}  // namespace leseg::kernels::vox
