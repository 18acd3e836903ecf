// SPDX-License-Identifier: Apache-2.0
// project: point -> pixel projection with the in-image and depth tests of 2D-3D pairing (METHODS §4).
// defines: project_points_cpu, project_points_cuda          (f32 points, no gradient: a discrete test)
//
//   points (N, 3) world metres; world_to_cam (3, 4) row-major f64 = inverse of the camera-to-world pose;
//   intrinsics fx, fy, cx, cy; image H x W; depth (H, W) f32 metres (0 = invalid) or nullptr (LiDAR).
//   X = R p + t;  u = fx X_x / X_z + cx;  v = fy X_y / X_z + cy;  (ui, vi) = (floor(u + 1/2), floor(v + 1/2))
//   kept iff X_z > min_depth, 0 <= ui <= W-1, 0 <= vi <= H-1 and, with a depth map,
//   depth[vi, ui] > 0 and |depth[vi, ui] - X_z| <= depth_tol.
//   out pixel (N,) i32 = vi * W + ui when kept, else -1;  out z (N,) f32 = X_z (nullptr to skip).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct ProjectParams {
  double world_to_cam[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  double fx = 1, fy = 1, cx = 0, cy = 0;
  int32_t height = 0, width = 0;
  float depth_tol = 0.05f;  // metres (ScanNet pairing)
  float min_depth = 0.f;    // metres; LiDAR pairing uses 1
};

void project_points_cpu(const float* points, int64_t n, const ProjectParams& p, const float* depth,
                        int32_t* out_pixel, float* out_z);
void project_points_cuda(const float* points, int64_t n, const ProjectParams& p, const float* depth,
                         int32_t* out_pixel, float* out_z, StreamHandle s);

}  // namespace leseg::kernels
