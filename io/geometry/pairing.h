// SPDX-License-Identifier: Apache-2.0
// 2D-3D pairing (METHODS §4): which pixel of a view each point lands on.
//   ScanNet-style (RGB-D): X = inverse(cam_to_world) p, u = fx X/Z + cx, v = fy Y/Z + cy, rounded to the
//   nearest pixel (floor(x + 1/2)), kept iff 0 <= u <= W-1, 0 <= v <= H-1 and |depth(v, u) - Z| <= 0.05 m
//   (depth 0 = invalid is never kept).
//   LiDAR-style (no depth map): kept iff Z > 1 m and inside the image, no depth test.
// Random crops (RandomResizedCrop semantics, output 224 x 416): area fraction ~ U(0.3, 1.0), aspect w/h
// log-uniform in (14/9, 17/9), top-left uniform; retried until more than `min_pairs` pairs survive.
// The projection runs in kernels/project on the coordinates' device; pairs come back on the CPU.
#pragma once
#include <cstdint>

#include "engine/tensor.h"
#include "io/scene.h"
#include "kernels/project/project.h"

namespace leseg::io {

struct PairingOptions {
  bool lidar = false;            // no depth test, Z > min_depth
  float depth_tol = 0.05f;       // metres (RGB-D)
  float lidar_min_depth = 1.0f;  // metres (LiDAR)
};

// Kernel parameters for a view: world_to_cam = inverse(cam_to_world) (full 4x4 inverse in double).
kernels::ProjectParams projection_params(const View& view, int height, int width, const PairingOptions& opt);

// (N,) i32 pixel index v * W + u of each point, -1 when not paired; on coords' device.
Tensor project_to_view(const Tensor& coords, const View& view, const PairingOptions& opt = {});

// (P, 2) i64 (point index, pixel index) pairs, ascending point index; CPU.
Tensor pair_points(const Tensor& coords, const View& view, const PairingOptions& opt = {});

struct CropOptions {
  int out_height = 224, out_width = 416;
  double scale_lo = 0.3, scale_hi = 1.0;
  double ratio_lo = 14.0 / 9.0, ratio_hi = 17.0 / 9.0;  // width / height
  int64_t min_pairs = 1024;  // keep a crop only with more than this many pairs
  int max_tries = 10;
};

struct CropPairs {
  int top = 0, left = 0, height = 0, width = 0;  // crop box in the source image
  Tensor pairs;    // (P, 2) i64 (point index, pixel index in the out_height x out_width resized crop)
  int tries = 0;   // crops drawn
  bool ok = false; // false: no crop kept > min_pairs within max_tries; the best one drawn is returned
};

// pairs: (P, 2) i64 from pair_points on an H x W view. Deterministic in `seed`.
CropPairs random_crop_pairs(const Tensor& pairs, int height, int width, uint64_t seed, const CropOptions& opt = {});

}  // namespace leseg::io
