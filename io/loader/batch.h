// SPDX-License-Identifier: Apache-2.0
// Batch: what the loader hands a regime — everything a training step reads, computed once here (nothing in a
// Batch is recomputed by a regime). All tensors are on the CPU until Batch::to(device).
//
// Points (N = sum of the scenes' points, scene b at rows [point_offsets[b], point_offsets[b+1])):
//   points (N, 3) f32 augmented positions (metres, centred), point_batch (N,) i32, point_feats (N, C) f32,
//   labels (N,) i32 at full resolution (-1 ignore; after the semi-supervised split / weak-label policy, so an
//   unlabelled scene is all -1), pseudo_labels (N,) i32 = majority of the CLIP pixel labels over the views that
//   pair the point (full-resolution views, before cropping; ties -> smallest class; -1 when unpaired or no
//   label; with ViewOptions::vote_in_masks the pixel labels are first voted inside each view's SAM masks), point_sam_ids (N,) i32 = SAM mask of the point in the first selected view that pairs it with a mask
//   (batch-unique id, see below; -1 none), segments (N,) i32 geometric segment ids made unique across the batch
//   (scene b's ids shifted by the number of ids of scenes < b; -1 stays -1).
// Voxels (M, scene b at rows [voxel_offsets[b], voxel_offsets[b+1]); order = first occurrence of each voxel
//   in point order, so the scenes' voxels are contiguous):
//   input: SparseTensor, coordinates (M, 4) i32 rows (b, floor(x/v), floor(y/v), floor(z/v)), features (M, C)
//   f32 (mean or first point per voxel); inverse (N,) i32 point -> voxel row (point i lies in voxel
//   inverse[i]); voxel_counts (M,) i32; voxel_labels (M,) i32 = mode of the voxel's point labels ignoring -1
//   (ties -> smallest class; -1 when all its points are -1).
// Features (C columns in this order, each enabled by FeatureOptions): RGB/127.5 - 1 (3), normals (3),
//   intensity * intensity_scale (1).
// Views (V = the selected views of all scenes; each one cropped with io/geometry's random_crop_pairs to
//   out_height x out_width, optionally mirrored horizontally):
//   pairs (P, 3) i64 rows (point row in the batch, pixel v * w + u in the crop, view row), ascending view then
//   point; view_scene (V,) i32; view_source (V,) i32 index in Scene::views; images (V, 3, h, w) f32
//   normalised (x/255 - mean) / std; view_clip_labels / view_sam_masks / view_gt_labels (V, h, w) i32 (nearest
//   resampling; SAM ids batch-unique: view v's ids shifted by sam_offsets[v], -1 stays -1);
//   view_sam_features (V, hf, wf, F) f32 (bilinear; hf = round(h * fh / H)); view_clip_features (V, hc, wc, D) f32
//   dense CLIP pixel features cropped the same way (bilinear, hc = round(h * ch / H)); caption_scene (V, D) f32;
//   caption_objects (K, D) f32 with caption_object_ids (K,) i32 (batch-unique SAM id) and caption_object_view
//   (K,) i32. Optional view tensors are undefined when a scene lacks them (or they are switched off).
//   crops_below_min counts views whose crop did not keep > min_pairs pairs (the best of max_tries is used).
// teacher: with two views on request (MeanTeacher), the same scenes independently augmented (same points in
//   the same order, so point rows, labels and segments agree; its own voxelization and inverse map).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/sparse/sparse_ops.h"
#include "engine/sparse/sparse_tensor.h"
#include "engine/tensor.h"
#include "io/geometry/pairing.h"
#include "io/loader/augment.h"
#include "io/scene.h"

namespace leseg::io::loader {

struct FeatureOptions {
  bool color = true;       // RGB/127.5 - 1 (indoor)
  bool normals = false;
  bool intensity = false;  // LiDAR
  double intensity_scale = 1.0;
  int channels() const { return (color ? 3 : 0) + (normals ? 3 : 0) + (intensity ? 1 : 0); }
};

struct ViewOptions {
  bool enabled = true;    // pair and crop views at all
  int max_views = -1;     // per scene: a seeded random subset of this size (kept in view order); -1 all
  bool crop = true;       // random crops (CropOptions); false: full views (all must share one size)
  CropOptions crop_options;
  double hflip = 0.5;     // probability of mirroring a crop (CLIP2Scene [code])
  bool auto_lidar = true; // views without a depth map pair LiDAR-style (Z > min depth, no depth test)
  PairingOptions pairing;
  bool images = true, clip_labels = true, sam_masks = true, sam_features = true, gt_labels = true, captions = true;
  bool clip_features = true;  // Batch::view_clip_features from View::clip_features (clip_feat.npy)
  // pseudo_labels from CLIP labels already voted inside the view's SAM masks (each mask takes the mode of its
  // pixels' CLIP labels, on the full view before any crop), then projected: CNS's order (refine in 2D, then
  // transfer to points), the figure `leseg data inspect` calls "after SAM-mask voting, 3D". false: raw labels.
  bool vote_in_masks = false;
  double mean[3] = {0.485, 0.456, 0.406};  // ImageNet normalisation of the crops
  double std[3] = {0.229, 0.224, 0.225};
};

struct BatchOptions {
  double voxel_size = 0.05;  // 0.05 indoor, 0.1 outdoor
  VoxelReduce reduce = VoxelReduce::Mean;
  FeatureOptions features;
  AugmentOptions augment;
  ViewOptions views;
  static BatchOptions indoor();   // voxel 0.05, RGB features
  static BatchOptions outdoor();  // voxel 0.1, intensity feature
};

struct Batch {
  int64_t num_scenes = 0;
  std::vector<std::string> scene_names;
  std::vector<uint8_t> scene_labelled;        // 1 when the scene's labels are used (semi-supervised split)
  std::vector<int64_t> point_offsets, voxel_offsets;  // (B + 1) each
  std::vector<uint64_t> seeds;                // augmentation seed of each scene

  SparseTensor input;      // coords (M, 4) i32, feats (M, C) f32
  double voxel_size = 0.0; // the voxel size `input` was made with (BatchOptions::voxel_size)
  Tensor inverse;          // (N,) i32
  Tensor voxel_counts;     // (M,) i32
  Tensor voxel_labels;     // (M,) i32

  Tensor points;           // (N, 3) f32
  Tensor point_batch;      // (N,) i32
  Tensor point_feats;      // (N, C) f32
  Tensor labels;           // (N,) i32
  Tensor pseudo_labels;    // (N,) i32
  Tensor point_sam_ids;    // (N,) i32
  Tensor segments;         // (N,) i32
  int64_t num_segments = 0, num_sam_masks = 0;

  Tensor pairs;            // (P, 3) i64
  Tensor view_scene, view_source;  // (V,) i32
  std::vector<int64_t> sam_offsets;  // (V + 1)
  Tensor images;           // (V, 3, h, w) f32
  Tensor view_clip_labels, view_sam_masks, view_gt_labels;  // (V, h, w) i32
  bool view_labels_weak = false;  // view_gt_labels went through the loader's weak pixel-label policy
  Tensor view_sam_features;  // (V, hf, wf, F) f32
  Tensor view_clip_features;  // (V, hc, wc, D) f32
  Tensor caption_scene;    // (V, D) f32
  Tensor caption_objects;  // (K, D) f32
  Tensor caption_object_ids, caption_object_view;  // (K,) i32
  int64_t crops_below_min = 0;

  // Rows without a label (< 0), built with the batch on the host so that no regime reads its labels back from a
  // device to find them: of `labels` (N), `voxel_labels` (M) and `view_gt_labels` read flat (V·H·W); (K,) i64.
  Tensor unlabelled_points, unlabelled_voxels, unlabelled_pixels;

  std::shared_ptr<Batch> teacher;

  // The host original of a batch moved to a device (Batch::to, the prefetcher): index sets a regime derives from
  // the batch (pairs, labels, segments) are read from it, in host memory, with no device synchronisation.
  std::shared_ptr<const Batch> host_copy;
  const Batch& host() const { return host_copy ? *host_copy : *this; }

  int64_t num_points() const { return points.defined() ? points.size(0) : 0; }
  int64_t num_voxels() const { return input.defined() ? input.size() : 0; }
  int64_t num_views() const { return view_scene.defined() ? view_scene.size(0) : 0; }
  // A copy with every tensor on `device` (the sparse input gets a fresh manager there).
  Batch to(Device device) const;
};

// One scene to batch: the scene (labels already filtered by the split / weak-label policy) and whether its
// labels count.
struct BatchItem {
  const Scene* scene = nullptr;
  bool labelled = true;
  uint64_t seed = 0;  // augmentation, view choice and crops
};

// Augments, pairs, crops and voxelizes the items into one Batch. Deterministic in (items, options).
// Errors name the scene.
Batch make_batch(const std::vector<BatchItem>& items, const BatchOptions& opt);

// Per-voxel label: mode of the points' labels ignoring -1, ties -> smallest class. inverse (N,) i32, labels
// (N,) i32 -> (M,) i32.
Tensor voxel_mode_labels(const Tensor& inverse, const Tensor& labels, int64_t num_voxels);

}  // namespace leseg::io::loader
