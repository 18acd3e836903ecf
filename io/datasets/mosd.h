// SPDX-License-Identifier: Apache-2.0
// RGB-D frames from organised Kinect clouds of the (modified) Object Segmentation Database (PCL's mOSD: PCD
// fields x y z rgba label, 640x480, camera frame; the sample in ../shared/data/pcl-mosd): one scene per cloud with
// its one view, so a real RGB-D frame can run the whole image -> points chain (`leseg data convert --from mosd`).
// Points: the pixels with finite x y z (camera frame = the scene frame; the view's pose is identity).
// Labels (mOSD scheme: 0 invalid, 1-9 parts of the supporting table, 10k..10k+9 parts of object k >= 2):
// classes {table, object}: 1-9 -> 0, >= 20 -> 1, anything else -> -1; instances: table 0, object k -> k - 1.
// View "0": colour from rgba (every pixel), depth = z metres (0 where invalid), intrinsics fx fy cx cy (the
// dataset's Kinect: 525 525 319.5 239.5), GT label image from the same mapping.
#pragma once
#include <string>
#include <vector>

#include "io/scene.h"

namespace leseg::io {

std::vector<std::string> mosd_classes();  // {"table", "object"}
Scene read_mosd_rgbd(const std::string& pcd_path, float fx = 525.f, float fy = 525.f, float cx = 319.5f,
                     float cy = 239.5f);

}  // namespace leseg::io
