// SPDX-License-Identifier: Apache-2.0
// nuScenes multi-sweep aggregation, as the LiDAR papers use it (mmdet3d LoadPointsFromMultiSweeps, CenterPoint):
// the keyframe plus its N previous sweeps, each moved into the keyframe's lidar frame through the ego poses,
//     T_s = lidar2ego_key⁻¹ · ego2global_key⁻¹ · ego2global_s · lidar2ego_s      (double precision),
// with a time channel Scene::times = (t_key − t_s) in seconds (0 for keyframe points). Sweep points closer than
// `remove_close` metres to their own sensor (in x-y, the vehicle's own returns) are dropped, as mmdet3d does.
// The sample folder (io/datasets/nuscenes.h) lists its sweeps in sweeps.txt, newest first:
//     keyframe_timestamp <us>                         (optional: else the number ending the keyframe's file name)
//     <file.pcd.bin> <timestamp us> lidar2ego <16 values> ego2global <16 values>     (row-major, one line per sweep)
// Files are relative to the folder. The keyframe's own lidar2ego / ego2global come from calibration.txt.
// Asking for more sweeps than listed uses all listed ones and says so in the report.
#pragma once
#include <string>
#include <vector>

#include "io/datasets/nuscenes.h"

namespace leseg::io {

struct NuScenesSweep {
  std::string file;
  int64_t timestamp_us = 0;
  std::vector<double> lidar2ego, ego2global;  // 16 each, row-major
};
struct NuScenesSweepList {
  int64_t keyframe_timestamp_us = -1;  // -1: not given
  std::vector<NuScenesSweep> sweeps;   // newest first
};
NuScenesSweepList read_nuscenes_sweeps(const std::string& path);
void write_nuscenes_sweeps(const std::string& path, const NuScenesSweepList& list);

struct SweepReport {
  int64_t sweeps_used = 0, sweeps_listed = 0, close_removed = 0, points_added = 0;
};
// The keyframe sample (read_nuscenes_sample) with `num_sweeps` previous sweeps appended (coords, intensity and
// times; the views stay the keyframe's cameras). num_sweeps = 0: the keyframe alone, times all 0.
Scene read_nuscenes_multisweep(const std::string& dir, int num_sweeps, bool load_images = true,
                               float remove_close = 1.0f, ReadReport* report = nullptr, SweepReport* sweeps = nullptr);

// Sweep -> keyframe lidar transform (row-major 4x4, double) from the four poses.
std::vector<double> sweep_to_keyframe(const std::vector<double>& lidar2ego_key, const std::vector<double>& ego2global_key,
                                      const std::vector<double>& lidar2ego_s, const std::vector<double>& ego2global_s);

}  // namespace leseg::io
