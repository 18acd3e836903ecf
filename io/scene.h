// SPDX-License-Identifier: Apache-2.0
// Scene: what io/ hands the loader — one point cloud with optional labels, segments and camera views
// carrying the foundation-model outputs (CLIP pixel pseudo-labels, SAM masks/features, caption
// embeddings). All arrays are CPU tensors, contiguous, with the dtypes below. Labels use -1 = ignore
// and classes 0..C-1 everywhere inside leseg (dataset readers map their own conventions to this).
//
// On-disk layout (documented in README "Scene layout"; .npy + PNG so Python users can write it; the
// per-scene point files follow Pointcept's names):
//   <root>/dataset.json            {"name", "classes": [...], "ignore_index": -1, "text_dim": D}
//   <root>/text_embeddings.npy     (C, D) f4, unit rows (class text embeddings)
//   <root>/<split>.txt             scene names, one per line (train.txt, val.txt)
//   <root>/scenes/<name>/coord.npy (N, 3) f4 metres      color.npy (N, 3) u1     normal.npy (N, 3) f4
//                        segment.npy (N,) i4 labels, -1 ignore     instance.npy (N,) i4, -1 none
//                        geo_segment.npy (N,) i4 geometric consistency sets     intensity.npy (N,) f4 (LiDAR)
//                        time.npy (N,) f4 seconds before the keyframe (aggregated LiDAR sweeps, optional)
//                        views/<k>/color.png (H, W, 3) · depth.png u16 millimetres (0 = invalid)
//                                 intrinsic.txt 3×3 · pose.txt 4×4 camera-to-world (row-major)
//                                 clip_label.png u16 class id per pixel (65535 = none)
//                                 clip_logits.npy (h, w, C) f2/f4 dense CLIP logits at patch resolution (optional;
//                                 when present the loader labels each crop pixel by the argmax of the logits
//                                 bilinearly resized to the crop, as CLIP2Scene does; clip_label.png still feeds
//                                 the points' projected labels)
//                                 clip_feat.npy (h, w, D) f2/f4 dense CLIP pixel features at patch resolution (1/16
//                                 for ViT-B/16), in the text space (MaskCLIP's dense output: logits = feature . T),
//                                 D = dataset text_dim (optional; target of CLIP2Scene's spatial loss)
//                                 sam_mask.npy (H, W) i4 mask id per pixel (-1 = none)
//                                 sam_feat.npy (h, w, F) f4 (optional)    label.png u16 GT (optional)
//                                 caption_scene.npy (D,) f4 (optional)
//                                 caption_objects.npy (M, D) f4 + caption_object_ids.npy (M,) i4 naming
//                                 the sam_mask id each object caption describes (optional)
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::io {

struct View {
  std::string name;
  Tensor image;           // (H, W, 3) u8, may be undefined when only geometry is needed
  Tensor depth;           // (H, W) f32 metres, 0 = invalid; undefined for LiDAR
  Tensor intrinsics;      // (3, 3) f32
  Tensor cam_to_world;    // (4, 4) f32 (for LiDAR datasets: lidar-to-camera inverse, see pairing)
  Tensor clip_labels;     // (H, W) i32, -1 = none        (CLIP / MaskCLIP pixel pseudo-labels)
  Tensor clip_logits;     // (h, w, C) f32, optional      (dense CLIP logits at patch resolution)
  Tensor clip_features;   // (h, w, D) f32, optional      (dense CLIP pixel features at patch resolution)
  Tensor sam_masks;       // (H, W) i32, -1 = none        (SAM mask id per pixel)
  Tensor sam_features;    // (h, w, F) f32, optional
  Tensor gt_labels;       // (H, W) i32, -1 = ignore, optional (2D evaluation)
  Tensor caption_scene;   // (D,) f32, optional
  Tensor caption_objects; // (M, D) f32, optional
  Tensor caption_object_ids;  // (M,) i32: SAM mask id each object caption describes
  int height() const { return image.defined() ? int(image.size(0)) : depth.defined() ? int(depth.size(0)) : 0; }
  int width() const { return image.defined() ? int(image.size(1)) : depth.defined() ? int(depth.size(1)) : 0; }
};

struct Scene {
  std::string name;
  Tensor coords;       // (N, 3) f32 metres
  Tensor colors;       // (N, 3) u8, optional
  Tensor normals;      // (N, 3) f32, optional
  Tensor intensity;    // (N,) f32, optional (LiDAR)
  Tensor times;        // (N,) f32 seconds before the keyframe (multi-sweep LiDAR: 0 keyframe), optional
  Tensor labels;       // (N,) i32, -1 = ignore, optional
  Tensor instances;    // (N,) i32, -1 = none, optional
  Tensor segments;     // (N,) i32 geometric consistency sets, optional
  std::vector<View> views;
  int64_t num_points() const { return coords.defined() ? coords.size(0) : 0; }
};

struct DatasetInfo {
  std::string name;
  std::vector<std::string> classes;
  int ignore_index = -1;
  Tensor text_embeddings;  // (C, D) f32 unit rows, optional
};

}  // namespace leseg::io
