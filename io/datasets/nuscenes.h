// SPDX-License-Identifier: Apache-2.0
// nuScenes-style sample: a lidar sweep <..>LIDAR_TOP<..>.pcd.bin (float32 × 5: x, y, z, intensity, ring;
// lidar frame), camera JPEGs, and calibration.txt in the format written for our shared sample
// (mmdet3d info, row-major):
//   lidar2ego <16>     ego2global <16>
//   <CAM> image <file>     <CAM> cam2img <9>     <CAM> lidar2cam <16>     <CAM> cam2ego <16>
// Views: one per camera in file order, intrinsics = cam2img, cam_to_world = inverse(lidar2cam), i.e. the
// "world" of a LiDAR scene is the lidar frame. Points with non-finite coordinates are dropped (counted).
#pragma once
#include <string>
#include <vector>

#include "io/formats/point_cloud.h"
#include "io/scene.h"

namespace leseg::io {

// (N, 5) f32 raw sweep; throws naming the file when the size is not a multiple of 20 bytes (or of
// 4 * `values_per_point`).
Tensor read_lidar_bin(const std::string& path, int values_per_point = 5);

struct NuScenesCamera {
  std::string name, image_file;
  Tensor cam2img;    // (3, 3) f32
  Tensor lidar2cam;  // (4, 4) f32
  Tensor cam2ego;    // (4, 4) f32, may be undefined
};
struct NuScenesCalibration {
  Tensor lidar2ego, ego2global;  // (4, 4) f32, may be undefined
  std::vector<NuScenesCamera> cameras;
};
NuScenesCalibration read_nuscenes_calibration(const std::string& path);

// Reads the sweep (first *LIDAR_TOP*.pcd.bin in `dir`) and the cameras. With `load_images` = false
// View::image stays undefined (the files are only checked to exist; image_size() gives their size).
Scene read_nuscenes_sample(const std::string& dir, bool load_images = true, ReadReport* report = nullptr);

// 4×4 inverse (double precision Gauss-Jordan; throws on a singular matrix).
Tensor inverse4x4(const Tensor& m);

// The pairing fixture: points (N, 3) in the scene ("world") frame projected into a view:
// p_cam = inverse(cam_to_world) · p, u = fx·X/Z + cx, v = fy·Y/Z + cy (pixel centres at integers),
// valid = Z > min_depth and 0 <= u <= W-1 and 0 <= v <= H-1. No occlusion test (LiDAR convention).
struct Projection {
  Tensor u, v, depth;  // (N,) f32
  Tensor valid;        // (N,) bool
  int64_t count = 0;   // number of valid points
};
Projection project_points(const Tensor& coords, const Tensor& intrinsics, const Tensor& cam_to_world, int height,
                          int width, float min_depth = 1.0f);

}  // namespace leseg::io
