// SPDX-License-Identifier: Apache-2.0
// ScanNet v2 raw scans and exported frames.
// Scan folder <scene>/:
//   <scene>_vh_clean_2.ply             vertices x y z red green blue (alpha) + faces (skipped)
//   <scene>_vh_clean_2.labels.ply      same vertices, 'label' = NYU40 id (0 = unannotated)
//   <scene>_vh_clean_2.0.010000.segs.json   {"segIndices": [...]} over-segmentation per vertex
//   <scene>.aggregation.json (or <scene>_vh_clean.aggregation.json)
//                                      {"segGroups": [{"objectId", "label", "segments": [...]}]}
// Labels: NYU40 -> ScanNet 20 (label_maps.h). From the labels PLY when present, else from the aggregation's
// raw category names through scannetv2-labels.combined.tsv (then the tsv is required). Vertices in no group
// get -1. Instances: the segGroup index (-1 none). Segments: segIndices renumbered 0..S-1 in first-seen order.
// Exported frames (the SensReader export): color/<i>.jpg, depth/<i>.png (u16 mm), pose/<i>.txt (4x4; <i> zero-padded
// ("00000") or not, the stem found in pose/ is used for every file;
// camera-to-world; frames whose pose has inf/nan are skipped and counted), intrinsic/intrinsic_depth.txt
// (4x4, top-left 3x3 used). Colour is resized (nearest) to the depth resolution so image and depth align.
#pragma once
#include <string>
#include <vector>

#include "io/formats/point_cloud.h"
#include "io/scene.h"

namespace leseg::io {

struct ScanNetReport {
  ReadReport points;
  int64_t unlabeled = 0;          // vertices mapped to -1 (not one of the 20 classes / no group)
  int64_t frames_bad_pose = 0;    // skipped frames
};

Scene read_scannet_scan(const std::string& scene_dir, const std::string& label_tsv = "", ScanNetReport* report = nullptr);

struct ScanNetFrameOptions {
  int stride = 1;        // every stride-th frame (sorted numerically)
  int max_frames = -1;   // -1 = all
  bool load_color = true;
};
// Appends views read from an exported-frames folder (color/, depth/, pose/, intrinsic/).
std::vector<View> read_scannet_frames(const std::string& frames_dir, const ScanNetFrameOptions& opt = {},
                                      ScanNetReport* report = nullptr);

}  // namespace leseg::io
