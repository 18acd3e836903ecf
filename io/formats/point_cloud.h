// SPDX-License-Identifier: Apache-2.0
// Tensor-level views of parsed PLY/PCD files: a point cloud (coords, colours, normals, labels) with a
// report of what was dropped.
//   PLY -> Scene: x y z (required); red green blue | r g b (uchar as is; float in [0, 1] scaled by 255);
//     nx ny nz; label; instance (or objectId). Points with a non-finite coordinate are DROPPED and counted.
//   PCD -> PcdCloud: x y z; rgb/rgba (packed 0xAARRGGBB in a 4-byte field, F or U) unpacked to u8;
//     label. Organised clouds (HEIGHT > 1): by default points are KEPT in pixel order with valid = false
//     and coords set to 0 where a coordinate is NaN (so index = v * width + u still holds); with
//     drop_invalid = true they are dropped and `index` keeps each surviving point's pixel index.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "io/formats/pcd.h"
#include "io/formats/ply.h"
#include "io/scene.h"

namespace leseg::io {

struct ReadReport {
  int64_t points_in_file = 0;
  int64_t nan_dropped = 0;          // points removed for non-finite coordinates
  int64_t nan_kept_invalid = 0;     // organised-cloud points kept with valid = false
  int64_t labels_out_of_range = 0;  // labels mapped to -1 (ignore)
  std::string str() const;
};

Scene ply_to_scene(const PlyData& ply, ReadReport* report = nullptr);
Scene read_ply_scene(const std::string& path, ReadReport* report = nullptr);
// Writes coords (+ colors, normals, labels, instances when defined) as a vertex-only PLY.
void write_ply_scene(const std::string& path, const Scene& scene, PlyFormat format = PlyFormat::binary_little_endian);

struct PcdCloud {
  int64_t width = 0, height = 1;
  Tensor coords;  // (N, 3) f32
  Tensor colors;  // (N, 3) u8, undefined without rgb/rgba
  Tensor labels;  // (N,) i32 raw label field, undefined without "label"
  Tensor valid;   // (N,) bool
  Tensor index;   // (N,) i64 position in the file (pixel index v*width+u for organised clouds)
  bool organised() const { return height > 1; }
};
PcdCloud pcd_to_cloud(const PcdData& pcd, bool drop_invalid = false, ReadReport* report = nullptr);
PcdCloud read_pcd_cloud(const std::string& path, bool drop_invalid = false, ReadReport* report = nullptr);
// Builds a PcdData with fields x y z [rgba U4] [label U4]; organised when height > 1.
PcdData cloud_to_pcd(const Tensor& coords, const Tensor& colors, const Tensor& labels, int64_t width = -1, int64_t height = 1);

}  // namespace leseg::io
