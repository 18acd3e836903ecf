// SPDX-License-Identifier: Apache-2.0
// ScanNet views straight from the original release's <scene>.sens stream
// (io/formats/sens.h), without the SensReader export step. Every `stride`-th frame is kept (frame index % stride
// == 0, in stream order), frames whose camera_to_world has inf/nan (ScanNet marks lost tracking that way) are
// skipped and counted, and the stream is read once, one frame in memory at a time (skipped frames are seeked over).
// A view is at the depth camera's resolution: depth in metres (raw / depth_shift, 0 invalid), intrinsics =
// intrinsic_depth's 3x3, cam_to_world = the frame's pose; colour is registered into the depth camera through the two
// intrinsics (ScanNet's colour and depth extrinsics are identity): depth pixel (u, v) takes the colour pixel
// nearest to (cx_c + fx_c (u - cx_d) / fx_d, cy_c + fy_c (v - cy_d) / fy_d); depth pixels outside the colour
// image are black. View names are the frame indices.
#pragma once
#include <string>
#include <vector>

#include "io/datasets/scannet.h"

namespace leseg::io {

std::vector<View> read_scannet_sens_views(const std::string& sens_path, const ScanNetFrameOptions& opt = {},
                                          ScanNetReport* report = nullptr);

// Colour (Hc, Wc, 3) registered into a (H, W) depth camera as above (Kc, Kd: 3x3 row-major).
Tensor register_color_to_depth(const Tensor& color, const float Kc[9], const float Kd[9], int64_t H, int64_t W);

}  // namespace leseg::io
