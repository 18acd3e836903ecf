// SPDX-License-Identifier: Apache-2.0
// Reads and writes leseg's on-disk scene layout (documented in io/scene.h): dataset.json,
// text_embeddings.npy, <split>.txt, scenes/<name>/*.npy and views/<k>/*.
// Conversions at the boundary: depth.png is u16 millimetres <-> View::depth f32 metres (0 = invalid);
// clip_label.png / label.png are u16 with 65535 = none <-> i32 with -1; coords/normals are written f4,
// colours u1, labels/instances/segments i4. On read, coord.npy/normal.npy of f8 are narrowed to f32, colours
// stored as floats are clamped to u8, i8/i2-widened labels narrowed to i32 (values checked).
// Views are written to views/<view.name> (or views/<index> when the name is empty) and read back sorted by
// directory name (numeric names in numeric order).
#pragma once
#include <string>
#include <vector>

#include "io/scene.h"

namespace leseg::io {

struct SceneReadOptions {
  bool views = true;          // read views/ at all
  bool view_images = true;    // color.png (the largest part)
  bool view_extras = true;    // SAM features, captions, GT label maps
};

void write_scene(const std::string& scene_dir, const Scene& scene);
Scene read_scene(const std::string& scene_dir, const SceneReadOptions& opt = {});

void write_dataset_info(const std::string& root, const DatasetInfo& info);
DatasetInfo read_dataset_info(const std::string& root);

void write_split(const std::string& root, const std::string& split, const std::vector<std::string>& names);
std::vector<std::string> read_split(const std::string& root, const std::string& split);

// Small text matrices (intrinsic.txt, pose.txt): whitespace separated rows.
Tensor read_matrix_txt(const std::string& path, int rows, int cols);
void write_matrix_txt(const std::string& path, const Tensor& m);

}  // namespace leseg::io
