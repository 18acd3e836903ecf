// SPDX-License-Identifier: Apache-2.0
// Normal-based graph over-segmentation (Felzenszwalb-Huttenlocher, ScanNet segmentator style) producing
// the geometric consistency sets stored in Scene::segments.
//   graph: undirected kNN edges (i, j), i < j, weight w = 1 - |n_i . n_j|;
//   edges sorted by (w, i, j); join components a != b when w <= Int(a) + k_thresh / |a| and likewise for b
//   (Int = largest weight inside the component, kept as "threshold" as in the segmentator);
//   then, in the same edge order, join any edge whose components are smaller than min_size.
//   Union-find with union by size (ties: the smaller root index wins), so the result is deterministic.
//   Segment ids are renumbered 0..S-1 by first point.
#pragma once
#include "engine/tensor.h"

namespace leseg::io {

struct OversegmentOptions {
  int k = 10;               // graph neighbours per point
  float k_thresh = 0.01f;   // ScanNet segmentator kThresh
  int min_size = 20;        // ScanNet segmentator segMinVerts
  float cell = 0.f;         // neighbour grid cell, 0 = auto
};

// coords (N, 3) f32, normals (N, 3) f32 -> (N,) i32 segment ids, CPU.
Tensor oversegment(const Tensor& coords, const Tensor& normals, const OversegmentOptions& opt = {});

}  // namespace leseg::io
