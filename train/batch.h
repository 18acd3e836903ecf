// SPDX-License-Identifier: Apache-2.0
// What the Trainer and the regimes read from a batch, and where batches come from.
// BatchSource is the seam between the Trainer and a loader: an epoch is a deterministic sequence of
// batches fixed by (seed, epoch); begin_epoch(epoch, start) resumes in the middle of one and yields exactly
// the batches an uninterrupted epoch would have yielded from batch `start` on.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/sparse/sparse_tensor.h"
#include "io/scene.h"

namespace leseg::train {

struct Batch {
  SparseTensor input;                  // batched voxels: coords (M, 4) i32 (batch, x, y, z), feats (M, C) f32
  Tensor inverse;                      // (N,) i32: voxel row of every point (full resolution)
  Tensor point_labels;                 // (N,) i32, -1 = ignore (undefined when the scenes have no labels)
  std::vector<int64_t> point_offsets;  // B + 1: points of scene b are [point_offsets[b], point_offsets[b+1])
  std::vector<std::string> scene_names;
  int64_t num_scenes() const { return int64_t(scene_names.size()); }
  int64_t num_points() const { return point_offsets.empty() ? 0 : point_offsets.back(); }
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  virtual void begin_epoch(int64_t epoch, int64_t start = 0) = 0;
  virtual std::optional<Batch> next() = 0;
};

}  // namespace leseg::train
