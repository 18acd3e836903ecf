// SPDX-License-Identifier: Apache-2.0
// Engine-level neighbour search over kernels/neighbors: a voxel hash grid built once over reference
// points (host build, O(N); uploaded for CUDA queries), then exact kNN and radius queries on the
// points' device. Results are sorted by (squared distance, index); kNN rows are padded with -1 / +inf
// when k exceeds the number of reference points. No autograd (discrete search).
#pragma once
#include "engine/tensor.h"
#include "kernels/neighbors/neighbors.h"

namespace leseg::io {

struct KnnResult {
  Tensor idx;  // (Q, k) i32
  Tensor d2;   // (Q, k) f32 squared distances
};
struct RadiusResult {
  Tensor offsets;  // (Q + 1,) i64, neighbours of query q are [offsets[q], offsets[q+1])
  Tensor idx;      // (offsets[Q],) i32
  Tensor d2;       // (offsets[Q],) f32
};

// A cell size giving roughly `per_cell` points per occupied cell for surface-like clouds
// (sqrt of bounding-box surface area / N times sqrt(per_cell)); 1 for fewer than 2 points.
float auto_cell_size(const Tensor& points, double per_cell = 8.0);

class NeighborIndex {
 public:
  // ref: (N, 3) f32 on CPU or CUDA; cell <= 0 picks auto_cell_size(ref).
  explicit NeighborIndex(const Tensor& ref, float cell = 0.f);
  KnnResult knn(const Tensor& query, int k) const;
  RadiusResult radius(const Tensor& query, float r) const;
  float cell() const { return params_.cell; }
  int64_t size() const { return ref_.size(0); }

 private:
  kernels::GridView view() const;
  Tensor ref_, keys_, start_, count_, sorted_;  // keys_ holds u64 bits in an i64 tensor
  uint64_t capacity_ = 0;
  kernels::GridParams params_;
};

// One-shot conveniences.
KnnResult knn(const Tensor& ref, const Tensor& query, int k, float cell = 0.f);
RadiusResult radius_search(const Tensor& ref, const Tensor& query, float r, float cell = 0.f);

}  // namespace leseg::io
