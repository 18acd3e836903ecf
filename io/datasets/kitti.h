// SPDX-License-Identifier: Apache-2.0
// KITTI with its cameras: a LiDAR scan paired with a camera image through the full 3x4 projection.
// Calibration contract: a camera is given as a 3x4 projection P (KITTI's P2 = [K | K t], t = the rectified
// camera's offset from camera 0: its fourth column is not zero) applied to rectified camera-0 coordinates,
//     pixel ~ P · R0_rect · Tr_velo_to_cam · x_velo.
// leseg's view stores a 3x3 intrinsic and a 4x4 camera-to-world, so the fourth column is folded into the extrinsic:
//     K = P[:, :3],  world_to_cam = [I | K⁻¹ P[:, 3]] · R0_rect · Tr_velo_to_cam,  cam_to_world = world_to_cam⁻¹,
// which projects every point exactly as P · R0_rect · Tr does (K's last row must be (0, 0, 1) and K[1][0] = 0, as
// in every KITTI P; checked). Copying only P2's 3x3 part drops t (about 6 cm along x for P2) and shifts
// projections by fx·t_x/Z pixels (tests/io/datasets/kitti_test.cpp measures it).
// Layouts (both read by `leseg data convert --from kitti`):
//   object    <root>/{training,testing}/velodyne/<id>.bin, image_2/<id>.png, calib/<id>.txt (P0..P3, R0_rect,
//             Tr_velo_to_cam, Tr_imu_to_velo)   -> scenes <split>_<id>, no point labels
//   odometry  <root>/sequences/<nn>/velodyne/<id>.bin, image_2/<id>.png, calib.txt (P0..P3, Tr = velodyne ->
//             rectified camera 0; no R0_rect) and optionally SemanticKITTI labels/<id>.label -> scenes <nn>_<id>
// The scene's frame is the velodyne frame (as for nuScenes); one view "image_2" per scan.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "io/datasets/semantickitti.h"

namespace leseg::io {

// Every "NAME: v0 v1 ..." line of a KITTI calib file (object or odometry), values in double precision.
std::map<std::string, std::vector<double>> read_kitti_calib_entries(const std::string& path);

struct KittiCamera {
  std::vector<double> P;              // 12, row-major 3x4
  std::vector<double> world_to_rect;  // 16, row-major 4x4: R0_rect · Tr_velo_to_cam (odometry: Tr)
};
// `camera` = "P2" (image_2) .. "P3"; throws naming the file and the missing entry.
KittiCamera kitti_camera(const std::map<std::string, std::vector<double>>& calib, const std::string& path,
                         const std::string& camera = "P2");

struct FoldedCamera {
  Tensor intrinsics;    // (3, 3) f32
  Tensor cam_to_world;  // (4, 4) f32
};
FoldedCamera fold_projection(const std::vector<double>& P, const std::vector<double>& world_to_rect);

// One scan with its image_2 view. `image_path` empty: geometry only (no view). `label_path` empty: no labels.
Scene read_kitti_frame(const std::string& bin_path, const std::string& image_path, const std::string& calib_path,
                       const std::string& label_path = "", const std::map<int, int>& learning_map = {},
                       KittiReport* report = nullptr);

}  // namespace leseg::io
